"""`moltgen policy export --format vap`: the same CEL as a ValidatingAdmissionPolicy and binding
per single-object rule, so the cluster enforces at admission what CI enforced at review.

Exported policies must judge every object exactly as `check` does (a test evaluates both on every
rule fixture), and touch nothing but moltgen's workloads unless asked to:
- the rule's names (`podSpec`, `params`, `env`) become `variables.moltgen*`, names no field of a
  Kubernetes object has, and only where they are free identifiers (never a field such as
  `container.?env`);
- a rule's `when` is folded into its validation (`!(when) || expression`): matchConditions cannot
  read `variables`, and a folded condition is judged exactly as `check` judges it;
- bindings match only what the scope allows (`Scope`), and act by severity: an error denies and
  fails closed, a warning warns and fails open, an info only audits;
- the policy file's waivers hold at admission too: a waived object (by kind, name and
  namespace) is left out by a matchCondition, so the cluster admits what check passes. A waiver
  of some keys or one field of an object leaves out the whole object (admission judges
  objects, not findings); a waiver of a rule for every object leaves the rule unexported.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
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
# A rule's own names -> the policy variable that holds them.
VARIABLE_NAMES = {"podSpec": "moltgenPodSpec", "params": "moltgenParams", "env": "moltgenEnv"}
CONTAINERS_VARIABLE = "moltgenContainers"
ENVIRONMENT_LABEL = "moltgen.dev/environment"  # moltgen.spec.project's; every object of an overlay has it
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
SCOPES = ("moltgen", "namespaces", "cluster")
# validationActions and failurePolicy per severity: only an error blocks, and only it fails
# closed (a webhook-free policy still fails when, say, a variable cannot be evaluated).
_ACTIONS = {"error": (["Deny"], "Fail"), "warning": (["Warn", "Audit"], "Ignore"),
            "info": (["Audit"], "Ignore")}


@dataclass(frozen=True, slots=True)
class Skipped:
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class Scope:
    """What the bindings match.

    moltgen (default): the objects moltgen renders, by their environment label, in the spec's
    namespaces. namespaces: everything in the spec's namespaces. cluster: everything outside
    the system namespaces and `spared` (the GitOps controller's)."""

    name: str = "moltgen"
    namespaces: tuple[str, ...] = ()
    environment: str = ""
    spared: tuple[str, ...] = ()

    def match_resources(self) -> dict[str, Any]:
        if self.name == "cluster":
            spared = sorted({*SYSTEM_NAMESPACES, *self.spared})
            return {"namespaceSelector": {"matchExpressions": [
                {"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": spared}]}}
        match: dict[str, Any] = {}
        if self.namespaces:
            match["namespaceSelector"] = {"matchExpressions": [
                {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(set(self.namespaces))}]}
        if self.name == "moltgen":
            requirement: dict[str, Any] = {"key": ENVIRONMENT_LABEL, "operator": "Exists"}
            if self.environment:
                requirement = {"key": ENVIRONMENT_LABEL, "operator": "In",
                               "values": [self.environment]}
            match["objectSelector"] = {"matchExpressions": [requirement]}
        return match


def export_vap(catalog: Catalog, *, env: str = "", scope: Scope | None = None,
               params: dict[str, dict[str, Any]] | None = None, waivers: Sequence[Any] = ()
               ) -> tuple[list[dict[str, Any]], list[Skipped]]:
    """Policy and binding of every exportable rule; `params` overrides a rule's parameters
    (the policy file's), by rule id; `waivers` are the policy file's waivers in force."""
    scope = scope or Scope(environment=env)
    documents: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    for rule in catalog.sorted():
        own = [w for w in waivers if w.rule == rule.id and w.env in ("", env)]
        everywhere = next((w for w in own if not (w.kind or w.name or w.namespace)), None)
        reason = not_exportable(rule) or _not_for_environment(rule, env) or (
            f"waived for every object ({everywhere.source})" if everywhere else "")
        if reason:
            skipped.append(Skipped(rule.id, reason))
            continue
        rule_params = (params or {}).get(rule.id, rule.params)
        policy = export_policy(rule, env=env, params=rule_params)
        if own:
            policy["spec"]["matchConditions"] = [_waiver_condition(i, w) for i, w in enumerate(own)]
        documents += [policy, _binding(rule, scope)]
    return documents, skipped


def _waiver_condition(index: int, waiver: Any) -> dict[str, str]:
    """A matchCondition that leaves out the objects `waiver` names (admission sees the
    namespace of a namespaced object in the request)."""
    parts = [f"object.kind == {cel_literal(waiver.kind)}"] if waiver.kind else []
    parts += [f"object.metadata.name == {cel_literal(waiver.name)}"] if waiver.name else []
    parts += [f"request.namespace == {cel_literal(waiver.namespace)}"] if waiver.namespace else []
    return {"name": f"moltgen-waiver-{index}", "expression": f"!({' && '.join(parts)})"}


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


def _not_for_environment(rule: Rule, env: str) -> str:
    if rule.environments and env not in rule.environments:
        return f"applies only to environment(s) {', '.join(rule.environments)}: export with --env"
    return ""


def policy_name(rule: Rule) -> str:
    return f"moltgen-{rule.id}"


def export_policy(rule: Rule, *, env: str, params: dict[str, Any]) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy of one rule."""
    names = {name: f"variables.{variable}" for name, variable in VARIABLE_NAMES.items()}

    def cel(text: str) -> str:
        return rewrite_identifiers(macros.expand(text), names)

    variables = []
    if rule.for_each == "container" or "podSpec" in rule.uses:
        variables.append({"name": VARIABLE_NAMES["podSpec"], "expression": POD_SPEC_CEL})
    if rule.for_each == "container":
        variables.append({"name": CONTAINERS_VARIABLE, "expression": CONTAINERS_CEL})
    if "params" in rule.uses:
        variables.append({"name": VARIABLE_NAMES["params"], "expression": cel_literal(params)})
    if "env" in rule.uses:
        variables.append({"name": VARIABLE_NAMES["env"], "expression": cel_literal(env)})

    expression = cel(rule.expression)
    if rule.each:
        expression = f"({cel(rule.each)}).all(item, {expression})"
    if rule.for_each == "container":
        expression = f"variables.{CONTAINERS_VARIABLE}.all(container, {expression})"
    if rule.when:
        expression = f"!({cel(rule.when)}) || ({expression})"
    validation: dict[str, Any] = {"expression": expression, "message": rule.message}
    if rule.message_expression and rule.for_each != "container" and not rule.each:
        validation["messageExpression"] = cel(rule.message_expression)
    by_group: dict[str, list[str]] = {}
    for kind in rule.kinds:
        group, plural = _RESOURCES[kind]
        by_group.setdefault(group, []).append(plural)
    resource_rules = [{"apiGroups": [group], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                       "resources": sorted(plurals)} for group, plurals in sorted(by_group.items())]
    spec: dict[str, Any] = {"failurePolicy": _ACTIONS[rule.severity.value][1],
                            "matchConstraints": {"resourceRules": resource_rules}}
    if variables:
        spec["variables"] = variables
    spec["validations"] = [validation]
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": policy_name(rule), "annotations": {"moltgen.dev/rule": rule.id,
                                                                "moltgen.dev/severity": rule.severity.value}},
        "spec": spec,
    }


def _binding(rule: Rule, scope: Scope) -> dict[str, Any]:
    spec: dict[str, Any] = {"policyName": policy_name(rule),
                            "validationActions": _ACTIONS[rule.severity.value][0]}
    match = scope.match_resources()
    if match:
        spec["matchResources"] = match
    return {"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": policy_name(rule)}, "spec": spec}


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
                    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<other>.)", re.DOTALL)


# Calls whose first arguments name a variable local to the call: `cel.bind(x, init, body)` and
# the comprehensions (`list.exists(x, ...)`, two-variable forms `map.all(k, v, ...)`).
_BINDERS = {"bind", "all", "exists", "exists_one", "existsOne", "map", "filter", "transformList",
            "transformMap", "transformMapEntry"}


def rewrite_identifiers(expression: str, mapping: dict[str, str]) -> str:
    """Rename free identifiers: not a field after `.` or `.?`, not inside a string, and not a
    name a `cel.bind` or comprehension declares (such as a rule's own `cel.bind(env, ...)`)."""
    tokens = [(m.group(0), m.lastgroup) for m in _TOKEN.finditer(expression)]
    meaningful = [i for i, (text, _) in enumerate(tokens) if not text.isspace()]
    following = dict(pairwise(meaningful))
    out: list[str] = []
    tail: list[str] = []  # the meaningful tokens seen so far, the last few
    depth = 0
    bound: list[tuple[str, int]] = []  # (name, depth of the call that declares it)
    declaring = False  # right after `.bind(` or `.all(` ...: identifiers before a comma declare
    for index, (text, group) in enumerate(tokens):
        if text.isspace():
            out.append(text)
            continue
        next_text = tokens[following[index]][0] if index in following else ""
        if group == "ident":
            if declaring and next_text == ",":
                bound.append((text, depth))
            else:
                declaring = False
                field = tail[-1:] == ["."] or tail[-2:] == [".", "?"]
                if text in mapping and not field and text not in {name for name, _ in bound}:
                    text = mapping[text]
        elif text == "(":
            depth += 1
            declaring = len(tail) >= 2 and tail[-1] in _BINDERS and tail[-2] == "."
        elif text == ")":
            bound = [(name, d) for name, d in bound if d < depth]
            depth -= 1
            declaring = False
        elif text != ",":
            declaring = False
        out.append(text)
        tail = (tail + [text if group != "ident" else tokens[index][0]])[-3:]
    return "".join(out)


WORKLOADS = WORKLOAD_KINDS


def export_configured(catalog: Catalog, config: Any, *, env: str, scope: str,
                      spec: Any = None, kubernetes_version: str | None = None
                      ) -> tuple[list[dict[str, Any]], list[Skipped]]:
    """`policy export`: the catalog as the policy file configures it (enabled, severity,
    params), bound to the spec's namespaces, checked against the chosen Kubernetes schemas."""
    from dataclasses import replace
    from pathlib import Path

    from moltgen.core.errors import MoltgenError, Problem
    from moltgen.kube.schemas import SchemaSet

    if kubernetes_version is not None and _minor(kubernetes_version) < 30:
        raise MoltgenError(Problem("ValidatingAdmissionPolicy admissionregistration.k8s.io/v1 "
                                   "needs Kubernetes 1.30 or later", field="--kubernetes-version"))
    schemas = SchemaSet(kubernetes_version)
    rules, params = [], {}
    for rule in catalog.sorted():
        settings = config.rules.get(rule.id)
        enabled = rule.enabled if settings is None or settings.enabled is None else settings.enabled
        if not enabled:
            continue
        if settings is not None and settings.severity is not None:
            rule = replace(rule, severity=settings.severity)
        params[rule.id] = {**rule.params, **(settings.params if settings else {})}
        rules.append(rule)
    namespaces, spared = _spec_namespaces(Path(spec) if spec else None, env)
    if scope == "namespaces" and not namespaces:
        raise MoltgenError(Problem("needs the spec's namespaces: run it next to moltgen.yaml or "
                                   "give --spec", field="--scope"))
    today = dt.date.today()
    waivers = [w for w in config.waivers if not w.expired(today)]
    documents, skipped = export_vap(Catalog({rule.id: rule for rule in rules}), env=env, params=params,
                                    scope=Scope(scope, namespaces, env, spared), waivers=waivers)
    for document in documents:
        errors = schemas.validate(document)
        if errors:  # a bug in the exporter, not in the input; say which object
            raise MoltgenError(Problem(f"{document['kind']} {document['metadata']['name']} does "
                                       f"not match the Kubernetes {schemas.version} schema: "
                                       f"{errors[0]}"))
    return documents, skipped


def _minor(version: str) -> int:
    match = re.fullmatch(r"v?1\.([0-9]+)(\.[0-9]+)?", version.strip())
    return int(match.group(1)) if match else 99  # SchemaSet reports a malformed version


def _spec_namespaces(spec: Any, env: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The namespaces of the spec's overlays (of `env`, if given), and its GitOps controller's."""
    from pathlib import Path

    from moltgen.core.errors import Location, MoltgenError, Problem

    path = spec or Path("moltgen.yaml")
    if not path.is_file():
        if spec is not None:
            raise MoltgenError(Problem("no such file", Location(str(path))))
        return (), ()
    from moltgen.project import load_project

    project = load_project(path)
    if env and env not in project.environments:
        raise MoltgenError(Problem(f"unknown environment {env!r} (the spec defines "
                                   f"{', '.join(project.environments)})", field="--env"))
    namespaces = tuple(t.spec.namespace for t in project.targets if not env or t.environment == env)
    gitops = project.base.gitops
    controller = gitops.namespace or {"argocd": "argocd", "flux": "flux-system"}.get(gitops.engine)
    return namespaces, (controller,) if controller else ()
