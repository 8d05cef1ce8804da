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
from functools import partial
from typing import Any, Callable, Iterable

from moltgen.check import celenv
from moltgen.check.apis import identity_problem
from moltgen.check.catalog import Catalog, Rule
from moltgen.check.config import PolicyConfig
from moltgen.check.facts import redact_secret, secret_facts
from moltgen.check.model import CheckResult, FieldPath, Finding, Manifest, ObjectRef, Severity, parse_path
from moltgen.check.openclaw import moltbot_image_tag, openclaw_config
from moltgen.check.schema import SchemaSet
from moltgen.check.views import containers, pod_spec, rule_view
from moltgen.check.vap import cel_literal
from moltgen.check.waivers import annotation_waivers, apply_waivers
from moltgen.errors import Problem


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
    def of(cls, manifest: Manifest, invalid: list[FieldPath] | None = None,
           image_tag: str | None = None) -> Prepared:
        """`invalid`: paths whose values have the wrong type (from the schema), left unjudged;
        `image_tag`: the Moltbot release whose config schema judges openclaw.json."""
        data = rule_view(manifest.data, invalid or ())
        kind = data["kind"]
        is_secret = kind == "Secret"
        found = pod_spec(data)
        # Secret facts come from the object as written: a null value is an empty one.
        return cls(manifest, redact_secret(data) if is_secret else data,
                   found[1] if found else None, containers(data),
                   secret_facts(manifest.data) if is_secret else {},
                   openclaw_config(data, image_tag) if kind == "ConfigMap" else {}, None, kind)


@dataclass(slots=True)
class EffectiveRule:
    """A rule as configured for this run. Its parameters are compiled into its programs
    (`cel.bind(params, {...}, expr)`), so every rule of an object shares one activation."""

    rule: Rule
    severity: Severity
    params: dict[str, Any] = field(default_factory=dict)
    _programs: dict[str, Any] = field(default_factory=dict)

    def program(self, name: str) -> celenv.Program:
        found = self._programs.get(name)
        if found is None:
            source = self.rule.sources()[name]
            if "params" in self.rule.uses:
                source = f"cel.bind(params, {cel_literal(self.params)}, {source})"
            found = self._programs[name] = celenv.compile_expression(source)
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
            params = {**rule.params, **(settings.params if settings else {})}
            rules[rule.id] = EffectiveRule(rule, severity, params)
        return rules

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
        validated = [self._validate(m) for m in manifests]
        # openclaw.json is judged by the schema of the release the target's image runs
        image_tag = moltbot_image_tag(m.data for m in manifests)
        prepared = [Prepared.of(m, invalid, image_tag) for m, (_, invalid) in zip(manifests, validated)]
        index = _Index(prepared)
        findings: list[Finding] = []
        first: dict[tuple[str, str, str], Prepared] = {}
        for item, (schema_findings, _) in zip(prepared, validated):
            found: list[Finding | None] = list(schema_findings)
            found.append(self._duplicate(item, first))
            found.extend(self._rule_findings(item, index))
            waivers, invalid = annotation_waivers(item.manifest)
            found.extend(self._builtin("waiver-invalid", f) for f in invalid)
            found = [f for f in found if f is not None]
            apply_waivers(found, self.policy.waivers + waivers, item.manifest.env, self.now.date())
            for finding in found:
                self._place(finding, item.manifest)
            findings.extend(found)
            if on_object is not None:
                on_object()
        return CheckResult(objects=len(manifests), findings=findings)

    def unreadable(self, problems: list[Problem], env: str) -> list[Finding]:
        """A file that does not parse is one `parse` finding at the line that broke it."""
        findings = []
        for problem in problems:
            finding = self._builtin("parse", Finding("parse", Severity.ERROR, problem.message,
                                                     ObjectRef("", "", "", ""), ()))
            if finding is not None:
                finding.location = problem.location
                findings.append(finding)
        apply_waivers(findings, self.policy.waivers, env, self.now.date())
        return findings

    def _duplicate(self, item: Prepared, first: dict[tuple[str, str, str], Prepared]) -> Finding | None:
        """The second object of a kind, namespace and name in one target replaces the first when
        applied (`kubectl apply`), or fails the sync (Argo CD, Flux): one of them is a mistake."""
        ref = item.manifest.ref
        if not (ref.kind and ref.name):
            return None
        earlier = first.setdefault((ref.kind, ref.namespace, ref.name), item)
        if earlier is item:
            return None
        where = earlier.manifest.locate(("metadata", "name"))
        return self._builtin("duplicate-object", Finding(
            "duplicate-object", Severity.ERROR,
            f"{ref} is defined twice in this target (first at {where}); the later one replaces it",
            ref, ("metadata", "name")))

    # -- schema -------------------------------------------------------------------------------
    def _validate(self, manifest: Manifest) -> tuple[list[Finding | None], list[FieldPath]]:
        """Schema findings, and the paths of values of the wrong type (rules skip those)."""
        if self.schemas is None:
            return [], []
        ref = manifest.ref
        problem = identity_problem(manifest.data)
        if problem is not None:
            return [self._builtin("schema", Finding("schema", Severity.ERROR, problem, ref, ()))], []
        outcome = self.schemas.validate(manifest.data)
        if outcome is None:
            problem = self.schemas.unserved(ref.api_version, ref.kind)
            if problem is not None:
                return [self._builtin("schema", Finding("schema", Severity.ERROR, problem, ref, ("kind",)))], []
            return [self._builtin("schema-missing", Finding(
                "schema-missing", Severity.WARNING,
                f"no schema for {ref.kind} {ref.api_version or '(no apiVersion)'} in Kubernetes "
                f"{self.schemas.version}; add one with --schema-dir", ref, ()))], []
        findings = [self._builtin("schema", Finding("schema", Severity.ERROR, error.message, ref,
                                                    error.path)) for error in outcome]
        return findings, [error.path for error in outcome if error.wrong_type]

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
                for (path, container), activation in zip(item.containers, activations):
                    rebind = partial(self._container_activation, item, container, objects)
                    yield from self._evaluate(item, effective, activation, path, rebind,
                                              container["name"])
            else:
                rebind = partial(self._item_activation, item, objects)
                yield from self._evaluate(item, effective, base, (), rebind)

    def _container_activation(self, item: Prepared, container: dict[str, Any], objects: list[Any] | None,
                              element: Any = None) -> Any:
        return celenv.activation(item.view, objects=objects, container=container,
                                 pod_spec=item.pod_spec, env=item.manifest.env,
                                 secret=item.secret, openclaw=item.openclaw, now=self.now,
                                 item=element)

    def _item_activation(self, item: Prepared, objects: list[Any] | None, element: Any) -> Any:
        return celenv.activation(item.view, objects=objects, pod_spec=item.pod_spec,
                                 env=item.manifest.env, secret=item.secret,
                                 openclaw=item.openclaw, now=self.now, item=element)

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
                  base_path: FieldPath, rebind: Callable[[Any], Any], key: str = "") -> Iterable[Finding]:
        """The rule's verdict; a rule with `each` gives one per element, bound as `item`."""
        if not effective.rule.each:
            yield from self._verdict(item, effective, activation, base_path, key)
            return
        elements = effective.program("each").run(activation)
        if not isinstance(elements, list):
            error = elements if isinstance(elements, celenv.EvalError) else celenv.EvalError(
                f"each returned {type(elements).__name__}, not a list")
            yield self._error_finding(item, effective, base_path, error)
            return
        judged: list[Any] = []
        for element in elements:
            if element in judged:  # a Secret referenced twice is one missing Secret
                continue
            judged.append(element)
            yield from self._verdict(item, effective, rebind(element), base_path, _key_of(element) or key)

    def _verdict(self, item: Prepared, effective: EffectiveRule, activation: Any,
                 base_path: FieldPath, key: str) -> Iterable[Finding]:
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
        yield Finding(rule.id, effective.severity, message, item.manifest.ref, path, key=key)

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


def _key_of(element: Any) -> str:
    """What a waiver's `keys` names an element by: a Secret key, or the `name` of a list item."""
    if isinstance(element, str):
        return element
    if isinstance(element, dict) and isinstance(element.get("name"), str):
        return element["name"]
    return ""


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
