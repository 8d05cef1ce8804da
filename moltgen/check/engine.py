"""Evaluate the rule catalog on manifests: schema first, then every matching CEL rule.

Performance by design: each expression is compiled once (celenv.compile_expression), each
manifest is prepared once (redacted view, pod spec, containers, secret facts) and bound once
(an activation reads the Python values in place), rules are looked up by kind, and rules across
objects see only the kinds they ask for, indexed by namespace.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from moltgen.check import celenv
from moltgen.check.catalog import Catalog, Rule
from moltgen.check.config import PolicyConfig
from moltgen.check.facts import redact_secret, secret_facts
from moltgen.check.model import CheckResult, FieldPath, Finding, Manifest, Severity, parse_path
from moltgen.check.openclaw import moltbot_image_tag, openclaw_config
from moltgen.check.schema import SchemaSet
from moltgen.check.views import containers, pod_spec
from moltgen.check.vap import cel_literal
from moltgen.check.waivers import annotation_waivers, apply_waivers, untrusted_waivers
from moltgen.errors import Location, MoltgenError, Problem


@dataclass(slots=True)
class Prepared:
    """A manifest as rules see it, computed once."""

    manifest: Manifest
    view: dict[str, Any]  # the object; a Secret redacted and without its sops block
    pod_spec: dict[str, Any] | None
    containers: list[tuple[FieldPath, dict[str, Any]]]
    secret: dict[str, Any]
    openclaw: dict[str, Any]  # a ConfigMap's parsed openclaw.json (moltgen.check.openclaw)
    activation: Any = None
    _kind: str = ""

    @classmethod
    def of(cls, manifest: Manifest, image_tag: str | None = None) -> Prepared:
        data = manifest.data
        kind = str(data.get("kind") or "")
        is_secret = kind == "Secret"
        found = pod_spec(data)
        return cls(manifest, redact_secret(data) if is_secret else data,
                   found[1] if found else None, containers(data),
                   secret_facts(data) if is_secret else {},
                   openclaw_config(data, image_tag) if kind == "ConfigMap" else {}, None, kind)


@dataclass(slots=True)
class EffectiveRule:
    """A rule as configured for this run. Its parameters are compiled into its programs
    (`cel.bind(params, {...}, expr)`), so every rule of an object shares one activation."""

    rule: Rule
    severity: Severity
    params: dict[str, Any] = field(default_factory=dict)
    where: Location | None = None  # the policy's params of this rule, for a compile error
    _programs: dict[str, Any] = field(default_factory=dict)

    def program(self, name: str) -> celenv.Program:
        found = self._programs.get(name)
        if found is None:
            source = {"when": self.rule.when, "expression": self.rule.expression,
                      "messageExpression": self.rule.message_expression,
                      "fieldExpression": self.rule.field_expression}[name]
            if "params" in self.rule.uses:
                source = f"cel.bind(params, {cel_literal(self.params)}, {source})"
            try:
                found = self._programs[name] = celenv.compile_expression(source)
            except celenv.CelError as exc:  # a rule compiles alone: its parameters are at fault
                first = str(exc).splitlines()[0] if str(exc) else "does not compile"
                raise MoltgenError(Problem(f"the rule's {name} does not compile with these "
                                           f"parameters: {first}", self.where,
                                           f"rules.{self.rule.id}.params")) from None
        return found


class Engine:
    def __init__(self, catalog: Catalog, policy: PolicyConfig | None = None, *,
                 schemas: SchemaSet | None = None, now: dt.datetime | None = None,
                 only: Iterable[str] | None = None):
        self.catalog = catalog
        self.policy = policy or PolicyConfig()
        self.schemas = schemas
        self.now = now or dt.datetime.now(dt.timezone.utc)
        self.rules = self._effective_rules(set(only) if only is not None else None)
        self._by_kind: dict[str, list[EffectiveRule]] = {}

    def _effective_rules(self, only: set[str] | None) -> dict[str, EffectiveRule]:
        rules = {}
        for rule in self.catalog.rules.values():
            settings = self.policy.rules.get(rule.id)
            enabled = rule.enabled if settings is None or settings.enabled is None else settings.enabled
            if only is not None:
                enabled = rule.id in only
            if not enabled:
                continue
            severity = settings.severity if settings and settings.severity else rule.severity
            if settings:
                _check_param_types(rule, settings)
            params = {**rule.params, **(settings.params if settings else {})}
            where = next(iter(settings.param_locations.values()), None) if settings else None
            rules[rule.id] = EffectiveRule(rule, severity, params, where)
        return rules

    def _annotation_may_waive(self, rule_id: str) -> bool:
        if rule_id == "waiver-invalid":
            return False  # it reports the annotations themselves
        allowed = self.policy.annotation_waivers
        if allowed is not None:
            return rule_id in allowed
        rule = self.catalog.rules.get(rule_id)
        return rule is not None and not rule.security

    def _rules_for(self, kind: str) -> list[EffectiveRule]:
        found = self._by_kind.get(kind)
        if found is None:
            found = [r for r in self.rules.values() if not r.rule.builtin
                     and (not r.rule.kinds or kind in r.rule.kinds)]
            self._by_kind[kind] = found
        return found

    def check(self, manifests: list[Manifest],
              on_object: Callable[[], None] | None = None) -> CheckResult:
        """Check manifests of one target (an overlay, a file...): cross-object rules see these.
        `on_object` is called after each object (progress)."""
        # openclaw.json is judged by the schema of the release the target's image runs
        image_tag = moltbot_image_tag(m.data for m in manifests)
        prepared = [Prepared.of(m, image_tag) for m in manifests]
        index = _Index(prepared)
        findings: list[Finding] = []
        for item in prepared:
            found = list(self._schema_findings(item))
            found.extend(self._rule_findings(item, index))
            waivers, invalid = annotation_waivers(item.manifest)
            waivers, refused = untrusted_waivers(waivers, self._annotation_may_waive, item.manifest)
            found.extend(self._builtin("waiver-invalid", f) for f in invalid + refused)
            found = [f for f in found if f is not None]
            apply_waivers(found, self.policy.waivers + waivers, item.manifest.env, self.now.date())
            for finding in found:
                self._place(finding, item.manifest)
            findings.extend(found)
            if on_object is not None:
                on_object()
        return CheckResult(objects=len(manifests), findings=findings)

    # -- schema -------------------------------------------------------------------------------
    def _schema_findings(self, item: Prepared) -> Iterable[Finding | None]:
        if self.schemas is None:
            return
        ref = item.manifest.ref
        outcome = self.schemas.validate(item.manifest.data)
        if outcome is None:
            yield self._builtin("schema-missing", Finding(
                "schema-missing", Severity.WARNING,
                f"no schema for {ref.kind} {ref.api_version or '(no apiVersion)'} in Kubernetes "
                f"{self.schemas.version}; add one with --schema-dir", ref, ()))
            return
        for error in outcome:
            yield self._builtin("schema", Finding("schema", Severity.ERROR, error.message, ref,
                                                  error.path))

    def _builtin(self, rule_id: str, finding: Finding) -> Finding | None:
        effective = self.rules.get(rule_id)
        if effective is None and rule_id in self.catalog.rules:
            return None  # disabled
        if effective is not None:
            finding.severity = effective.severity
        return finding

    # -- CEL rules ----------------------------------------------------------------------------
    def _rule_findings(self, item: Prepared, index: _Index) -> Iterable[Finding]:
        env = item.manifest.env
        container_activations: list[Any] | None = None
        for effective in self._rules_for(item._kind):
            rule = effective.rule
            if rule.environments and env not in rule.environments:
                continue
            objects = index.candidates(item, rule) if rule.scope == "objects" else None
            base = self._activation(item, objects)
            if rule.when:
                verdict = effective.program("when").run(base)
                if verdict is not True:
                    if isinstance(verdict, celenv.EvalError):
                        yield self._error_finding(item, effective, (), verdict)
                    continue
            if rule.for_each == "container":
                if objects is not None:
                    activations = [self._container_activation(item, c, objects) for _, c in item.containers]
                else:
                    if container_activations is None:  # shared by every container rule
                        container_activations = [self._container_activation(item, c, None)
                                                 for _, c in item.containers]
                    activations = container_activations
                for (path, _), activation in zip(item.containers, activations):
                    yield from self._evaluate(item, effective, activation, path)
            else:
                yield from self._evaluate(item, effective, base, ())

    def _container_activation(self, item: Prepared, container: dict[str, Any], objects: list[Any] | None) -> Any:
        return celenv.activation(item.view, objects=objects, container=container,
                                 pod_spec=item.pod_spec, env=item.manifest.env,
                                 secret=item.secret, openclaw=item.openclaw, now=self.now)

    def _activation(self, item: Prepared, objects: list[Any] | None) -> Any:
        """One activation per object, shared by its rules; rules across objects get their own."""
        if objects is None and item.activation is not None:
            return item.activation
        activation = celenv.activation(item.view, objects=objects, pod_spec=item.pod_spec,
                                       env=item.manifest.env, secret=item.secret,
                                       openclaw=item.openclaw, now=self.now)
        if objects is None:
            item.activation = activation
        return activation

    def _evaluate(self, item: Prepared, effective: EffectiveRule, activation: Any,
                  base_path: FieldPath) -> Iterable[Finding]:
        rule = effective.rule
        verdict = effective.program("expression").run(activation)
        if verdict is True:
            return
        if isinstance(verdict, celenv.EvalError):
            yield self._error_finding(item, effective, base_path, verdict)
            return
        if verdict is not False:
            yield self._error_finding(item, effective, base_path, celenv.EvalError(
                f"the expression returned {type(verdict).__name__}, not a bool"))
            return
        message = rule.message
        if rule.message_expression:
            text = effective.program("messageExpression").run(activation)
            if isinstance(text, str) and text.strip():
                message = text.strip()
        path = base_path + rule.field
        if rule.field_expression:
            text = effective.program("fieldExpression").run(activation)
            if isinstance(text, str) and text:
                try:
                    path = base_path + parse_path(text)
                except ValueError:
                    pass
        yield Finding(rule.id, effective.severity, message, item.manifest.ref, path)

    def _error_finding(self, item: Prepared, effective: EffectiveRule, path: FieldPath,
                       error: celenv.EvalError) -> Finding:
        # A rule that cannot be evaluated fails closed, like failurePolicy: Fail.
        return Finding(effective.rule.id, effective.severity,
                       f"rule could not be evaluated: {error.message}", item.manifest.ref, path)

    def _place(self, finding: Finding, manifest: Manifest) -> None:
        finding.location = manifest.locate(finding.path)
        if manifest.origin is not None:
            try:
                finding.origin = manifest.origin(finding.path)
            except Exception:  # noqa: BLE001 - a missing origin must not hide a finding
                finding.origin = None


def _param_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "integer" if isinstance(value, int) else "number"
    return {str: "string", list: "list", dict: "mapping"}.get(type(value), "null")


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _check_param_types(rule: Rule, settings: Any) -> None:
    """A parameter the policy sets has the type of the rule's default (and its items the type
    of the default's items): `maxAgeDays: [1]` is a located error here, not a failed
    evaluation on every object or a program that does not compile."""
    problems = []
    for name, value in settings.params.items():
        if name not in rule.params:
            continue
        mismatch = _type_mismatch(rule.params[name], value, (name,))
        if mismatch:
            where, want, got = mismatch
            problems.append(Problem(f"must be {_a(want)}, like the rule's default (found {_a(got)})",
                                    settings.param_locations.get(name),
                                    ".".join(map(str, ("rules", rule.id, "params") + where))))
    if problems:
        raise MoltgenError(problems)


def _type_mismatch(default: Any, value: Any, where: tuple[Any, ...]) -> tuple[tuple[Any, ...], str, str] | None:
    if default is None:
        return None
    want, got = _param_kind(default), _param_kind(value)
    if got != want and not (want == "number" and got == "integer"):
        return where, want, got
    if isinstance(default, list) and default:
        for index, item in enumerate(value):
            found = _type_mismatch(default[0], item, where + (index,))
            if found:
                return found
    if isinstance(default, dict):
        for key, item in value.items():
            found = _type_mismatch(default.get(key), item, where + (key,))
            if found:
                return found
    return None


class _Index:
    """Objects of one target by kind and namespace, for rules with scope: objects."""

    def __init__(self, prepared: list[Prepared]):
        # (kind, namespace) -> views, namespace "*" for every namespace; built once, so a rule
        # across objects costs what its namespace holds, not what the target holds.
        self.by_kind: dict[tuple[str, str], list[Any]] = defaultdict(list)
        self.namespaces: dict[int, str] = {}
        for item in prepared:
            namespace = item.manifest.ref.namespace
            self.namespaces[id(item)] = namespace
            self.by_kind[(item._kind, namespace)].append(item.view)
            self.by_kind[(item._kind, "*")].append(item.view)
        self.kinds = tuple(dict.fromkeys(kind for kind, _ in self.by_kind))
        self._cache: dict[tuple[tuple[str, ...], str], list[Any]] = {}

    def candidates(self, item: Prepared, rule: Rule) -> list[Any]:
        namespace = self.namespaces[id(item)] if rule.same_namespace else "*"
        key = (rule.object_kinds, namespace)
        found = self._cache.get(key)
        if found is None:
            kinds = rule.object_kinds or self.kinds
            found = [view for kind in kinds for view in self.by_kind.get((kind, namespace), ())]
            self._cache[key] = found
        return found
