"""A manifest as rules see it, computed once, and a rule as this run configures it, its
parameters compiled into its programs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from moltgen.check import celenv
from moltgen.check.catalog import Rule
from moltgen.check.facts import redact_secret, secret_facts
from moltgen.check.model import Manifest, Severity
from moltgen.check.openclaw import openclaw_config
from moltgen.check.patterns import unroll_pattern_lists
from moltgen.check.vap import cel_literal
from moltgen.check.views import containers, pod_spec, rule_view
from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.fieldpath import FieldPath


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
                   secret_facts(manifest.data, recipients=manifest.recipients) if is_secret else {},
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
