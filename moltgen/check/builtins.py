"""The rules the engine implements itself instead of in CEL, by id. Each still has its YAML
file in check/rules (summary, severity, docs, waivable or not) marked `builtin: true`; the
catalog refuses a built-in file this registry does not know and a registry id with no file,
so docs, policy settings and the engine always name the same rules."""

from __future__ import annotations

BUILTIN_RULES: dict[str, str] = {
    "parse": "a file that does not parse: one finding at the line that broke it",
    "schema": "the object against the Kubernetes (or shipped CRD) schema, and its identity",
    "schema-missing": "no schema for the object's kind and apiVersion",
    "duplicate-object": "a kind, namespace and name defined twice in one target",
    "waiver-invalid": "a waiver annotation that is malformed or not allowed to waive",
}
