"""Evaluate the rule catalog on manifests: schema first, then every matching CEL rule.

Performance by design: each expression is compiled once (celenv.compile_expression), each
manifest is prepared once (redacted view, pod spec, containers, secret facts) and bound once
(an activation reads the Python values in place), rules are looked up by kind, and rules across
objects see only the kinds they ask for, indexed by namespace.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterable, Sequence

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
from moltgen.check.waivers import annotation_waivers, apply_waivers, untrusted_waivers
from moltgen.errors import Location, MoltgenError, Problem
from moltgen.check.patterns import unroll_pattern_lists
from moltgen.packing import Packer


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
    def of(cls, manifest: Manifest, invalid: Sequence[FieldPath] | None = None,
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
    where: Location | None = None  # the policy's params of this rule, for a compile error
    _programs: dict[str, Any] = field(default_factory=dict)

    def program(self, name: str) -> celenv.Program:
        found = self._programs.get(name)
        if found is None:
            source = self.rule.sources()[name]
            if "params" in self.rule.uses:
                source = unroll_pattern_lists(source, self.params)
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

    def check(self, manifests: Iterable[Manifest],
              on_object: Callable[[], None] | None = None,
              between: Callable[[], None] | None = None) -> CheckResult:
        """Check the manifests of one target (an overlay, a file...): rules across objects see
        these. `on_object` is called after each object (progress), `between` before each
        object of the second pass (a time budget).

        Objects are checked as they come and then dropped, so memory does not grow with their
        size: schema and single-object rules first, one object at a time. What rules across
        objects read of the other objects (the redacted views of the kinds they ask for) is
        kept compressed in a _CompactIndex, and so is the data of each object such a rule
        applies to (its subject); the subjects are evaluated in a second pass, once every
        object is known.
        """
        packer = Packer()
        index = _CompactIndex(self._cross_rules(), packer)
        # (namespace, kind, checked whole later?, packed data, wrong-type paths, the manifest
        # without its data, findings it already has)
        later: list[tuple[str, str, bool, bytes, tuple[FieldPath, ...], Manifest,
                          tuple[Finding | None, ...]]] = []
        findings: list[Finding] = []
        first: dict[bytes, str] = {}  # where each kind/namespace/name was first (_identity)
        count = 0
        # openclaw.json is judged by the schema of the release the target's image runs: the
        # first Moltbot container's tag. A ConfigMap that comes before it is checked later.
        image_tag: str | None = None
        for manifest in manifests:
            count += 1
            if image_tag is None:
                image_tag = moltbot_image_tag((manifest.data,))
            duplicate = self._duplicate(manifest, first)
            if image_tag is None and manifest.data.get("kind") == "ConfigMap":
                index.add("ConfigMap", manifest.ref.namespace, rule_view(manifest.data, ()))
                later.append((manifest.ref.namespace, "ConfigMap", True,
                              packer.pack("ConfigMap", manifest.data), (),
                              _shell(manifest, packer, "ConfigMap"), (duplicate,)))
            else:
                schema_findings, invalid = self._validate(manifest)
                item = Prepared.of(manifest, invalid, image_tag)
                blob = index.add(item._kind, manifest.ref.namespace, item.view)
                self._check_alone(item, [*schema_findings, duplicate], findings)
                if index.is_subject(item._kind):
                    if blob is None or item.view is not manifest.data:
                        blob = packer.pack(item._kind, manifest.data)
                    later.append((manifest.ref.namespace, item._kind, False, blob,
                                  tuple(invalid), _shell(manifest, packer, item._kind), ()))
            if on_object is not None:
                on_object()
        # Namespace by namespace: rules across objects mostly look within one, so the views
        # of its objects are decompressed once for all of its subjects.
        later.sort(key=lambda entry: entry[0])
        for _, kind, whole, blob, invalid, shell, found_first in later:
            if between is not None:
                between()
            shell.data = packer.unpack(kind, blob)
            if whole:
                schema_findings, invalid = self._validate(shell)
                item = Prepared.of(shell, invalid, image_tag)
                self._check_alone(item, [*schema_findings, *found_first], findings)
            else:
                item = Prepared.of(shell, invalid, image_tag)
            if index.is_subject(item._kind):
                found = list(self._rule_findings(item, index))
                if found:
                    waivers = untrusted_waivers(annotation_waivers(shell)[0],
                                                self._annotation_may_waive, shell)[0]
                    self._conclude(found, shell, waivers, findings)
            shell.data = None  # type: ignore[assignment]
        return CheckResult(objects=count, findings=findings)

    def _check_alone(self, item: Prepared, found: list[Finding | None],
                     findings: list[Finding]) -> None:
        """The rules of one object, after `found` (its schema findings), and its waivers."""
        found = [*found, *self._rule_findings(item, None)]
        waivers, invalid = annotation_waivers(item.manifest)
        waivers, refused = untrusted_waivers(waivers, self._annotation_may_waive, item.manifest)
        found.extend(self._builtin("waiver-invalid", f) for f in invalid + refused)
        self._conclude(found, item.manifest, waivers, findings)

    def _conclude(self, found: list[Finding | None], manifest: Manifest, waivers: list[Any],
                  findings: list[Finding]) -> None:
        """Waive, locate and keep the findings of one object."""
        kept = [f for f in found if f is not None]
        apply_waivers(kept, self.policy.waivers + waivers, manifest.env, self.now.date())
        for finding in kept:
            self._place(finding, manifest)
        findings.extend(kept)

    def _cross_rules(self) -> list[EffectiveRule]:
        return [r for r in self.rules.values() if not r.rule.builtin and r.rule.scope == "objects"]

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

    def _duplicate(self, manifest: Manifest, first: dict[bytes, str]) -> Finding | None:
        """The second object of a kind, namespace and name in one target replaces the first when
        applied (`kubectl apply`), or fails the sync (Argo CD, Flux): one of them is a mistake."""
        ref = manifest.ref
        if not (ref.kind and ref.name):
            return None
        key = _identity(ref)
        where = first.get(key)
        if where is None:
            first[key] = str(manifest.locate(("metadata", "name")))
            return None
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
    def _rule_findings(self, item: Prepared, index: _CompactIndex | None) -> Iterable[Finding]:
        """Without an index the rules of one object; with it, the rules across objects."""
        env = item.manifest.env
        container_activations: list[Any] | None = None
        for effective in self._rules_for(item._kind):
            rule = effective.rule
            if rule.environments and env not in rule.environments:
                continue
            if (rule.scope == "objects") != (index is not None):
                continue
            objects = index.candidates(item, rule) if index is not None else None
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
                message = sys.intern(text.strip())  # a fleet's findings repeat a few texts
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


def _identity(ref: ObjectRef) -> bytes:
    """A 128-bit digest of kind, namespace and name: what a target remembers of each object to
    find duplicates, a third of the three strings' size (collisions: 2^-128)."""
    text = "\0".join((ref.kind, ref.namespace, ref.name)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=16).digest()


def _key_of(element: Any) -> str:
    """What a waiver's `keys` names an element by: a Secret key, or the `name` of a list item."""
    if isinstance(element, str):
        return element
    if isinstance(element, dict) and isinstance(element.get("name"), str):
        return element["name"]
    return ""


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


class _CompactIndex:
    """What rules across objects read of the other objects of a target, kept small.

    The redacted view of each object of a kind some rule asks for (`objects.kinds`), packed
    (moltgen.packing: ~120 bytes for an object of a fleet), by kind and namespace; a rule
    across objects costs what its namespace holds, not what the target holds. Views are
    decompressed per (kinds, namespace) as rules ask, the most recent few kept.
    """

    CACHED = 64  # (kinds, namespace) lists kept decompressed

    def __init__(self, rules: list[EffectiveRule], packer: Packer):
        self.rules = rules
        self.packer = packer
        kinds = [r.rule.object_kinds for r in rules]
        self.kinds_wanted: frozenset[str] | None = (
            None if any(not k for k in kinds) else frozenset(k for ks in kinds for k in ks))
        subjects = [r.rule.kinds for r in rules]
        self.subject_kinds: frozenset[str] | None = (
            None if any(not k for k in subjects) else frozenset(k for ks in subjects for k in ks))
        # (kind, namespace) -> compressed views, namespace "*" for every namespace
        self.by_kind: dict[tuple[str, str], list[bytes]] = defaultdict(list)
        self.kinds: dict[str, None] = {}
        self._cache: OrderedDict[tuple[tuple[str, ...], str], list[Any]] = OrderedDict()

    def add(self, kind: str, namespace: str, view: dict[str, Any]) -> bytes | None:
        """Keep an object's view if a rule may ask for it; the compressed view, or None."""
        if not self.rules or (self.kinds_wanted is not None and kind not in self.kinds_wanted):
            return None
        blob = self.packer.pack(kind, view)
        self.by_kind[(kind, namespace)].append(blob)
        self.by_kind[(kind, "*")].append(blob)
        self.kinds[kind] = None
        return blob

    def is_subject(self, kind: str) -> bool:
        """Whether some rule across objects applies to objects of this kind."""
        return bool(self.rules) and (self.subject_kinds is None or kind in self.subject_kinds)

    def candidates(self, item: Prepared, rule: Rule) -> list[Any]:
        namespace = item.manifest.ref.namespace if rule.same_namespace else "*"
        key = (rule.object_kinds, namespace)
        found = self._cache.get(key)
        if found is None:
            kinds = rule.object_kinds or tuple(self.kinds)
            found = [self.packer.unpack(kind, blob)
                     for kind in kinds for blob in self.by_kind.get((kind, namespace), ())]
            self._cache[key] = found
            if len(self._cache) > self.CACHED:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return found


def _shell(manifest: Manifest, packer: Packer, kind: str) -> Manifest:
    """The manifest without its data, kept for a later pass (its data kept packed); a
    locator that can keep its text smaller does (check.targets), against the dictionary of
    its kind's document texts."""
    compact = getattr(manifest.locate, "compact", None)
    if compact is not None:
        compact(partial(packer.dictionary, "text", kind))
    return Manifest(None, manifest.locate, manifest.target, manifest.env,  # type: ignore[arg-type]
                    manifest.origin)
