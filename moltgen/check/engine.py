"""Check the manifests of a target: schema first, then every matching CEL rule, in two passes
(single objects as they come; rules across objects once every object is known), and a
fleet's parts from the findings cache where their inputs are unchanged.

Performance by design: each expression is compiled once (celenv.compile_expression), each
manifest is prepared once (redacted view, pod spec, containers, secret facts) and bound once
(check.evaluate), rules are looked up by kind, and rules across objects see only the kinds
they ask for, indexed by namespace (check.crossindex).
"""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from moltgen.check.builtin_findings import BuiltinFindings
from moltgen.check.catalog import Catalog
from moltgen.check.config import PolicyConfig
from moltgen.check.crossindex import shell_of
from moltgen.check.evaluate import Evaluator
from moltgen.check.findingscache import FindingsStore, PartEntry, SubjectEntry
from moltgen.check.model import CheckResult, Finding, Manifest, ObjectRef, Part, Severity
from moltgen.check.openclaw import moltbot_image_tag
from moltgen.check.params import check_param_types
from moltgen.check.prepared import EffectiveRule, Prepared
from moltgen.check.runstate import (
    CachedPart,
    Later,
    PartRecorder,
    Refreshing,
    TargetRun,
    nowhere,
    origin_resolver,
    verdict_of,
)
from moltgen.check.views import rule_view
from moltgen.check.waivers import annotation_waivers, apply_waivers, untrusted_waivers
from moltgen.core.errors import Location, Problem
from moltgen.core.packing import RefusedPickle, plain_loads, plain_pickle
from moltgen.kube.schemas import SchemaSet


class Engine:
    def __init__(self, catalog: Catalog, policy: PolicyConfig | None = None, *,
                 schemas: SchemaSet | None = None, now: dt.datetime | None = None,
                 only: Iterable[str] | None = None):
        self.catalog = catalog
        self.policy = policy or PolicyConfig()
        self.schemas = schemas
        # The start of the day (UTC): rules that read `now` count whole days, and every check of
        # one day agrees, so findings cached during a day are exact (check.findingscache).
        self.now = now or dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0,
                                                                    microsecond=0)
        self.rules = self._effective_rules(set(only) if only is not None else None)
        self.evaluator = Evaluator(self.rules, self.now)
        self.builtin = BuiltinFindings(self.rules, catalog, schemas)

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
                check_param_types(rule, settings)
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

    def check(self, manifests: Iterable[Manifest],
              on_object: Callable[[], None] | None = None,
              between: Callable[[], None] | None = None) -> CheckResult:
        """Check the manifests of one target (an overlay, a file...): rules across objects see
        these. `on_object` is called after each object (progress), `between` before each
        object of the second pass (a time budget).

        Objects are checked as they come and then dropped, so memory does not grow with their
        size: schema and single-object rules first, one object at a time. What rules across
        objects read of the other objects (the redacted views of the kinds they ask for) is
        kept compressed in a CompactIndex, and so is the data of each object such a rule
        applies to (its subject); the subjects are evaluated in a second pass, once every
        object is known.
        """
        run = TargetRun(self.evaluator.cross_rules())
        for manifest in manifests:
            self._first_pass(run, manifest, None)
            if on_object is not None:
                on_object()
        self._second_pass(run, between)
        return CheckResult(objects=run.count, findings=run.findings)

    def check_parts(self, parts: Sequence[Part], store: FindingsStore | Refreshing,
                    on_object: Callable[[], None] | None = None,
                    between: Callable[[], None] | None = None,
                    origin_at: Callable[[Any], Location | None] | None = None,
                    context: tuple[str, ...] = ("", "")) -> CheckResult:
        """`check` of a target built in parts (a fleet's instance overlays), each part's
        findings taken from `store` when its inputs are unchanged (check.findingscache), and
        stored when they were not. The findings are those `check` gives, in the same order.
        `origin_at` finds a cached finding's line in the spec; `context` (the target's name
        and environment, then anything else its findings depend on) is part of every key."""
        run = TargetRun(self.evaluator.cross_rules(), *context[:2], cached=True)
        recorders: list[tuple[str, PartRecorder]] = []
        for part in parts:
            key = store.key(part.inputs, part.name, "origins" if origin_at else "", *context)
            entry = store.get(key)
            if entry is not None and self._reuse_part(run, part, key, entry, origin_at):
                for _ in range(entry.objects):
                    if on_object is not None:
                        on_object()
                continue
            recorder = PartRecorder(len(run.findings), run.count, run.image_tag) if key is not None else None
            for manifest in part.manifests():
                self._first_pass(run, manifest, recorder)
                if on_object is not None:
                    on_object()
            if recorder is not None:
                recorder.finish(run)
                recorders.append((key, recorder))  # type: ignore[arg-type]
        if any(c.entry.final_tag != run.image_tag for c in run.reused if c.waits_for_tag):
            # A cached part judged a ConfigMap by the release a later part named, and that
            # release is another now: check every part again (and store the new verdicts).
            return self.check_parts(parts, Refreshing(store), on_object, between, origin_at, context)
        try:
            placed = self._second_pass(run, between)
        except RefusedPickle:
            # A cached object or view is not plain data (planted: the entry's self-hash held):
            # nothing of it ran; every part is checked again and its entry replaced.
            return self.check_parts(parts, Refreshing(store), on_object, between, origin_at, context)
        for cached, found in placed:
            self._place_again(cached, found)
        for key, recorder in recorders:
            if recorder.storable:
                store.put(key, recorder.entry(run.image_tag))
        for cached in run.reused:
            if cached.changed:  # new candidates, the same verdicts: keep the new digests
                store.put(cached.key, cached.entry)
        return CheckResult(objects=run.count, findings=run.findings)

    def _first_pass(self, run: TargetRun, manifest: Manifest, recorder: PartRecorder | None) -> None:
        """Schema and single-object rules of one object; what rules across objects need of it
        is kept in the run's index, and it is kept for the second pass if it is their subject.
        `recorder`: what a part's cache entry keeps is noted there."""
        index, packer = run.index, run.packer
        ordinal = run.count
        run.count += 1
        if run.image_tag is None:
            run.image_tag = moltbot_image_tag((manifest.data,))
        if recorder is not None:
            recorder.note_identity(manifest, run.first)
        duplicate = self.builtin.duplicate(manifest, run.first)
        if recorder is not None:
            recorder.identity_placed(run.first)
        if run.image_tag is None and manifest.data.get("kind") == "ConfigMap":
            added = index.add("ConfigMap", manifest.ref.namespace, rule_view(manifest.data, ()))
            raw = plain_pickle(manifest.data) if recorder is not None else \
                pickle.dumps(manifest.data, pickle.HIGHEST_PROTOCOL)
            subject = None
            if recorder is not None:
                if added is not None:
                    recorder.views.append(("ConfigMap", manifest.ref.namespace, added[1], added[2]))
                subject = SubjectEntry(ordinal - recorder.start_ordinal, manifest.ref.namespace,
                                       "ConfigMap", raw, (), whole=True)
                recorder.subjects.append(subject)
            run.later.append(Later(manifest.ref.namespace, "ConfigMap", True,
                                    packer.pack_raw("ConfigMap", raw), (),
                                    shell_of(manifest, packer, "ConfigMap"), (duplicate,), subject))
            return
        schema_findings, invalid = self.builtin.validate(manifest)
        item = Prepared.of(manifest, invalid, run.image_tag)
        added = index.add(item._kind, manifest.ref.namespace, item.view)
        if recorder is not None and added is not None:
            recorder.views.append((item._kind, manifest.ref.namespace, added[1], added[2]))
        self._check_alone(item, [*schema_findings, duplicate], run.findings)
        if index.is_subject(item._kind):
            if added is None or item.view is not manifest.data:
                raw = plain_pickle(manifest.data) if recorder is not None else \
                    pickle.dumps(manifest.data, pickle.HIGHEST_PROTOCOL)
                blob = packer.pack_raw(item._kind, raw)
            else:
                blob, raw = added[0], added[1]
            subject = None
            if recorder is not None:
                subject = SubjectEntry(ordinal - recorder.start_ordinal,
                                       manifest.ref.namespace, item._kind, raw, tuple(invalid))
                recorder.subjects.append(subject)
            run.later.append(Later(manifest.ref.namespace, item._kind, False, blob, tuple(invalid),
                                    shell_of(manifest, packer, item._kind), (), subject))

    def _second_pass(self, run: TargetRun, between: Callable[[], None] | None
                     ) -> list[tuple[CachedPart, list[tuple[int, list[Finding]]]]]:
        """Rules across objects, subject by subject, once every object is known. A cached
        part's verdicts are reused where its candidates are unchanged or its findings agree;
        the rest are returned (by part) to be placed from the part's files."""
        index, packer, findings = run.index, run.packer, run.findings
        # Namespace by namespace: rules across objects mostly look within one, so the views
        # of its objects are decompressed once for all of its subjects.
        run.later.sort(key=lambda entry: entry.namespace)
        unplaced: dict[int, tuple[CachedPart, list[tuple[int, list[Finding]]]]] = {}
        for later in run.later:
            if between is not None:
                between()
            if later.part is not None:
                again = self._reuse_cross(run, later.part, later.subject)  # type: ignore[arg-type]
                if again:
                    unplaced.setdefault(id(later.part), (later.part, []))[1].extend(again)
                continue
            shell = later.shell
            assert shell is not None
            assert later.blob is not None  # a later part's entry holds its objects
            shell.data = packer.unpack(later.kind, later.blob)
            if later.whole:
                schema_findings, invalid = self.builtin.validate(shell)
                item = Prepared.of(shell, invalid, run.image_tag)
                start = len(findings)
                self._check_alone(item, [*schema_findings, *later.found_first], findings)
                if later.subject is not None:
                    later.subject.alone, later.subject.invalid = findings[start:], tuple(invalid)
            else:
                item = Prepared.of(shell, later.invalid, run.image_tag)
            if index.is_subject(item._kind):
                if later.subject is not None:
                    by_rule = self.evaluator.by_rule(item, index)
                    later.subject.rules = [(effective.rule.id, key, index.digest(key), found)
                                           for effective, key, found in by_rule]
                    found = [f for _, _, each in by_rule for f in each]
                else:
                    found = list(self.evaluator.findings(item, index))
                if found:
                    waivers = untrusted_waivers(annotation_waivers(shell)[0],
                                                self._annotation_may_waive, shell)[0]
                    self._conclude(found, shell, waivers, findings)
            shell.data = None  # type: ignore[assignment]
        return list(unplaced.values())

    def _check_alone(self, item: Prepared, found: list[Finding | None],
                     findings: list[Finding]) -> None:
        """The rules of one object, after `found` (its schema findings), and its waivers."""
        found = [*found, *self.evaluator.findings(item, None)]
        waivers, invalid = annotation_waivers(item.manifest)
        waivers, refused = untrusted_waivers(waivers, self._annotation_may_waive, item.manifest)
        found.extend(self.builtin.configured("waiver-invalid", f) for f in invalid + refused)
        self._conclude(found, item.manifest, waivers, findings)

    def _conclude(self, found: Sequence[Finding | None], manifest: Manifest, waivers: list[Any],
                  findings: list[Finding]) -> None:
        """Waive, locate and keep the findings of one object."""
        kept = [f for f in found if f is not None]
        apply_waivers(kept, self.policy.waivers + waivers, manifest.env, self.now.date())
        for finding in kept:
            self._place(finding, manifest)
        findings.extend(kept)

    def unreadable(self, problems: list[Problem], env: str) -> list[Finding]:
        """A file that does not parse is one `parse` finding at the line that broke it."""
        findings = []
        for problem in problems:
            finding = self.builtin.configured("parse", Finding("parse", Severity.ERROR, problem.message,
                                                     ObjectRef("", "", "", ""), ()))
            if finding is not None:
                finding.location = problem.location
                findings.append(finding)
        apply_waivers(findings, self.policy.waivers, env, self.now.date())
        return findings

    # -- cached parts (check_parts) -----------------------------------------------------------
    def _reuse_part(self, run: TargetRun, part: Part, key: str | None, entry: PartEntry,
                    origin_at: Callable[[Any], Location | None] | None) -> bool:
        """Take a cached part into the run: its identities, findings, views and subjects.
        False (and nothing taken) when one of its objects repeats an earlier part's: the
        duplicate finding names the other part, so the part is checked again."""
        if entry.tag_in != run.image_tag or any(identity in run.first for identity, _ in entry.identities):
            return False
        run.image_tag = entry.tag_out
        for identity, where in entry.identities:
            run.first[identity] = where
        resolve = origin_resolver(origin_at)
        for finding in entry.findings:
            resolve(finding)
        for subject in entry.subjects:
            for finding in subject.alone:
                resolve(finding)
            for _, _, _, found in subject.rules:
                for finding in found:
                    resolve(finding)
        run.findings.extend(entry.findings)
        for kind, namespace, raw, digest in entry.views:
            run.index.add_raw(kind, namespace, raw, digest, pack=False)
        cached = CachedPart(part, key, entry)
        for subject in entry.subjects:
            run.later.append(Later(subject.namespace, subject.kind, False, None, subject.invalid,
                                    None, (), subject, cached))
        run.count += entry.objects
        run.reused.append(cached)
        return True

    def _reuse_cross(self, run: TargetRun, part: CachedPart,
                     subject: SubjectEntry) -> list[tuple[int, list[Finding]]]:
        """A cached subject's verdicts across objects: reused where the rule's candidates are
        unchanged, evaluated again where they changed. Findings that agree with the stored
        ones keep their places; the others are returned to be placed."""
        item: Prepared | None = None
        waivers: list[Any] = []
        unplaced: list[tuple[int, list[Finding]]] = []
        run.findings.extend(subject.alone)  # a ConfigMap checked whole in the second pass
        for position, (rule_id, key, digest, stored) in enumerate(subject.rules):
            current = run.index.digest(key)
            if current == digest:
                run.findings.extend(stored)
                continue
            if item is None:
                shell = Manifest(plain_loads(subject.data), nowhere, run.target, run.env)
                item = Prepared.of(shell, subject.invalid, run.image_tag)
                waivers = untrusted_waivers(annotation_waivers(shell)[0],
                                            self._annotation_may_waive, shell)[0]
            found = list(self.evaluator.one_rule(item, self.rules[rule_id], run.index, {}))
            apply_waivers(found, self.policy.waivers + waivers, run.env, self.now.date())
            if [verdict_of(f) for f in found] == [verdict_of(f) for f in stored]:
                found = stored
            else:
                unplaced.append((subject.ordinal, found))
            subject.rules[position] = (rule_id, key, current, found)
            part.changed = True
            run.findings.extend(found)
        return unplaced

    def _place_again(self, part: CachedPart, unplaced: list[tuple[int, list[Finding]]]) -> None:
        """Place findings of a cached part that a changed candidate gave: from its files."""
        wanted: dict[int, list[Finding]] = {}
        for ordinal, found in unplaced:
            wanted.setdefault(ordinal, []).extend(found)
        for ordinal, manifest in enumerate(part.part.manifests()):
            for finding in wanted.get(ordinal, ()):
                self._place(finding, manifest)

    def _place(self, finding: Finding, manifest: Manifest) -> None:
        finding.location = manifest.locate(finding.path)
        if manifest.origin is not None:
            try:
                finding.origin = manifest.origin(finding.path)
                key_of = getattr(manifest.origin, "key", None)
                finding.origin_key = key_of(finding.path) if key_of is not None else None
            except Exception:  # a missing origin must not hide a finding
                finding.origin = finding.origin_key = None


