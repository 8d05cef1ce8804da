"""The findings of the rules the engine implements itself (their ids: check.builtins), as the
policy configures them: the schema step, and an object defined twice in one target."""

from __future__ import annotations

from moltgen.check.builtins import BUILTIN_RULES
from moltgen.check.catalog import Catalog
from moltgen.check.model import Finding, Manifest, Severity
from moltgen.check.prepared import EffectiveRule
from moltgen.check.runstate import object_identity
from moltgen.core.fieldpath import FieldPath
from moltgen.kube.apis import identity_problem
from moltgen.kube.schemas import SchemaSet


class BuiltinFindings:
    def __init__(self, rules: dict[str, EffectiveRule], catalog: Catalog, schemas: SchemaSet | None):
        self.rules, self.catalog, self.schemas = rules, catalog, schemas

    def duplicate(self, manifest: Manifest, first: dict[bytes, str]) -> Finding | None:
        """The second object of a kind, namespace and name in one target replaces the first when
        applied (`kubectl apply`), or fails the sync (Argo CD, Flux): one of them is a mistake."""
        ref = manifest.ref
        if not (ref.kind and ref.name):
            return None
        key = object_identity(ref)
        where = first.get(key)
        if where is None:
            first[key] = str(manifest.locate(("metadata", "name")))
            return None
        return self.configured("duplicate-object", Finding(
            "duplicate-object", Severity.ERROR,
            f"{ref} is defined twice in this target (first at {where}); the later one replaces it",
            ref, ("metadata", "name")))

    def validate(self, manifest: Manifest) -> tuple[list[Finding | None], list[FieldPath]]:
        """Schema findings, and the paths of values of the wrong type (rules skip those)."""
        if self.schemas is None:
            return [], []
        ref = manifest.ref
        problem = identity_problem(manifest.data)
        if problem is not None:
            return [self.configured("schema", Finding("schema", Severity.ERROR, problem, ref, ()))], []
        outcome = self.schemas.validate(manifest.data)
        if outcome is None:
            problem = self.schemas.unserved(ref.api_version, ref.kind)
            if problem is not None:
                return [self.configured("schema", Finding("schema", Severity.ERROR, problem, ref, ("kind",)))], []
            return [self.configured("schema-missing", Finding(
                "schema-missing", Severity.WARNING,
                f"no schema for {ref.kind} {ref.api_version or '(no apiVersion)'} in Kubernetes "
                f"{self.schemas.version}; add one with --schema-dir", ref, ()))], []
        findings = [self.configured("schema", Finding("schema", Severity.ERROR, error.message, ref,
                                                    error.path)) for error in outcome]
        return findings, [error.path for error in outcome if error.wrong_type]

    def configured(self, rule_id: str, finding: Finding) -> Finding | None:
        """A finding of an engine rule (check.builtins) as configured: None when disabled."""
        assert rule_id in BUILTIN_RULES, rule_id
        effective = self.rules.get(rule_id)
        if effective is None and rule_id in self.catalog.rules:
            return None  # disabled
        if effective is not None:
            finding.severity = effective.severity
        return finding
