"""The rules the engine implements itself instead of in CEL, by id. Each still has its YAML
file in check/rules (summary, severity, docs, waivable or not) marked `builtin: true`; the
catalog refuses a built-in file this registry does not know and a registry id with no file,
so docs, policy settings and the engine always name the same rules."""

from __future__ import annotations

# Their summaries and docs are in their YAML files; here, where the engine reports each.
BUILTIN_RULES: tuple[str, ...] = (
    "parse",  # Engine.unreadable
    "schema", "schema-missing",  # BuiltinFindings.validate
    "duplicate-object",  # BuiltinFindings.duplicate
    "waiver-invalid",  # Engine._check_alone
)
