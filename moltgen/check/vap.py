"""`moltgen policy export --format vap`: the same CEL as a ValidatingAdmissionPolicy and binding
per single-object rule, so the cluster enforces at admission what CI enforced at review."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from moltgen.check import macros
from moltgen.check.catalog import Catalog, Rule
from moltgen.check.views import CONTAINERS_CEL, POD_SPEC_CEL, WORKLOAD_KINDS

# Kubernetes resource names (plural, group) for the kinds rules match.
_RESOURCES: dict[str, tuple[str, str]] = {
    "Pod": ("", "pods"), "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"), "DaemonSet": ("apps", "daemonsets"),
    "ReplicaSet": ("apps", "replicasets"), "ReplicationController": ("", "replicationcontrollers"),
    "Job": ("batch", "jobs"), "CronJob": ("batch", "cronjobs"), "Service": ("", "services"),
    "Secret": ("", "secrets"), "ConfigMap": ("", "configmaps"),
    "Ingress": ("networking.k8s.io", "ingresses"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"), "Namespace": ("", "namespaces"),
    "ServiceAccount": ("", "serviceaccounts"), "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
}
_NOT_IN_CLUSTER = {
    "objects": "it looks across objects, which admission cannot see",
    "secret": "it reads sops metadata, which the cluster never sees (Secrets arrive decrypted)",
    "now": "admission has no clock variable",
    "openclaw": "it reads openclaw.json as parsed by moltgen (JSON5), which admission CEL cannot parse",
}


@dataclass(frozen=True, slots=True)
class Skipped:
    rule: str
    reason: str


def export_vap(catalog: Catalog, *, env: str = "", action: str = "Deny") -> tuple[list[dict[str, Any]], list[Skipped]]:
    documents: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    for rule in catalog.sorted():
        reason = not_exportable(rule)
        if reason:
            skipped.append(Skipped(rule.id, reason))
            continue
        policy, binding = _policy(rule, env, action)
        documents += [policy, binding]
    return documents, skipped


def not_exportable(rule: Rule) -> str:
    if rule.builtin:
        return "implemented by moltgen itself (not CEL)"
    if rule.scope == "objects":
        return _NOT_IN_CLUSTER["objects"]
    for name, reason in _NOT_IN_CLUSTER.items():
        if name in rule.uses:
            return reason
    missing = [k for k in rule.kinds if k not in _RESOURCES]
    if missing or not rule.kinds:
        return f"no admission resource known for kind {missing[0] if missing else '(any)'}"
    return ""


def _policy(rule: Rule, env: str, action: str) -> tuple[dict[str, Any], dict[str, Any]]:
    name = f"moltgen-{rule.id}"
    variables = []
    if rule.for_each == "container" or "podSpec" in rule.uses:
        variables.append({"name": "podSpec", "expression": POD_SPEC_CEL})
    if rule.for_each == "container":
        variables.append({"name": "containers", "expression": CONTAINERS_CEL})
    if "params" in rule.uses:
        variables.append({"name": "params", "expression": cel_literal(rule.params)})
    if "env" in rule.uses:
        variables.append({"name": "env", "expression": cel_literal(env)})

    def cel(text: str) -> str:
        return rewrite_identifiers(macros.expand(text), {"podSpec": "variables.podSpec", "params": "variables.params",
                                          "env": "variables.env"})

    expression = cel(rule.expression)
    if rule.for_each == "container":
        expression = f"variables.containers.all(container, {expression})"
    validation: dict[str, Any] = {"expression": expression, "message": rule.message}
    if rule.message_expression and rule.for_each != "container":
        validation["messageExpression"] = cel(rule.message_expression)
    rules = []
    by_group: dict[str, list[str]] = {}
    for kind in rule.kinds:
        group, plural = _RESOURCES[kind]
        by_group.setdefault(group, []).append(plural)
    for group, plurals in sorted(by_group.items()):
        rules.append({"apiGroups": [group], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                      "resources": sorted(plurals)})
    spec: dict[str, Any] = {"failurePolicy": "Fail", "matchConstraints": {"resourceRules": rules}}
    if rule.when:
        spec["matchConditions"] = [{"name": "when", "expression": cel(rule.when)}]
    if variables:
        spec["variables"] = variables
    spec["validations"] = [validation]
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "annotations": {"moltgen.dev/rule": rule.id,
                                                   "moltgen.dev/severity": rule.severity.value}},
        "spec": spec,
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name,
                 "validationActions": [action] if rule.severity.value == "error" else ["Warn", "Audit"]},
    }
    return policy, binding


# In a single-quoted CEL string: the quote, the backslash and any control character are escaped.
_CEL_UNSAFE = re.compile(r"['\\\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _cel_escape(match: re.Match[str]) -> str:
    char = match[0]
    return "\\" + char if char in "'\\" else f"\\u{ord(char):04x}"


def cel_literal(value: Any) -> str:
    """A CEL literal for a parameter value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + _CEL_UNSAFE.sub(_cel_escape, value) + "'"
    if isinstance(value, list):
        return "[" + ", ".join(cel_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{cel_literal(str(k))}: {cel_literal(v)}" for k, v in value.items()) + "}"
    return "null"


_TOKEN = re.compile(r"""(?P<string>[rR]?(?:'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"))"""
                    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<other>.)", re.S)


def rewrite_identifiers(expression: str, mapping: dict[str, str]) -> str:
    """Rename free identifiers (not fields after a dot, not inside strings)."""
    out: list[str] = []
    previous = ""
    for match in _TOKEN.finditer(expression):
        token = match.group(0)
        if match["ident"] and token in mapping and previous != ".":
            token = mapping[token]
        out.append(token)
        if not token.isspace():
            previous = match.group(0)[-1] if match["other"] else "x"
    return "".join(out)


WORKLOADS = WORKLOAD_KINDS
