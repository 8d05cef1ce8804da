"""Evaluate the CEL rules of the catalog on one prepared object (check.prepared): the rules of
its kind, one activation shared by all of its rules (and one per container, shared by the
container rules), `when`, `each`, and the message and field expressions. A rule that cannot
be evaluated fails closed, like an admission policy's failurePolicy: Fail."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from moltgen.check import celenv
from moltgen.check.crossindex import CompactIndex
from moltgen.check.model import Finding
from moltgen.check.prepared import EffectiveRule, Prepared
from moltgen.core.fieldpath import FieldPath, parse_path


class Evaluator:
    """The enabled rules as configured (`rules`), judged as of the day `now`."""

    def __init__(self, rules: dict[str, EffectiveRule], now: dt.datetime):
        self.rules, self.now = rules, now
        self._by_kind: dict[str, list[EffectiveRule]] = {}

    def rules_for(self, kind: str) -> list[EffectiveRule]:
        found = self._by_kind.get(kind)
        if found is None:
            found = [r for r in self.rules.values() if not r.rule.builtin
                     and (not r.rule.kinds or kind in r.rule.kinds)]
            self._by_kind[kind] = found
        return found

    def cross_rules(self) -> list[EffectiveRule]:
        return [r for r in self.rules.values() if not r.rule.builtin and r.rule.scope == "objects"]

    def findings(self, item: Prepared, index: CompactIndex | None) -> Iterable[Finding]:
        """Without an index the rules of one object; with it, the rules across objects."""
        shared: dict[str, Any] = {}  # container activations, shared by every container rule
        for effective in self.applicable(item, index is not None):
            yield from self.one_rule(item, effective, index, shared)

    def applicable(self, item: Prepared, across: bool) -> Iterable[EffectiveRule]:
        env = item.manifest.env
        for effective in self.rules_for(item._kind):
            rule = effective.rule
            if rule.environments and env not in rule.environments:
                continue
            if (rule.scope == "objects") == across:
                yield effective

    def by_rule(self, item: Prepared, index: CompactIndex
                       ) -> list[tuple[EffectiveRule, tuple[Any, ...], list[Finding]]]:
        """The rules across objects of one subject, each with the key of the candidates it
        saw and its findings (a part's cache entry keeps them per rule)."""
        return [(effective, index.key_for(item, effective.rule), list(self.one_rule(item, effective, index, {})))
                for effective in self.applicable(item, True)]

    def one_rule(self, item: Prepared, effective: EffectiveRule, index: CompactIndex | None,
                  shared: dict[str, Any]) -> Iterable[Finding]:
        rule = effective.rule
        objects = index.candidates(item, rule) if index is not None else None
        base = self._activation(item, objects)
        if rule.when:
            verdict = effective.program("when").run(base)
            if verdict is not True:
                if isinstance(verdict, celenv.EvalError):
                    yield self._error_finding(item, effective, (), verdict)
                return
        if rule.for_each == "container":
            if objects is not None:
                activations = [self._container_activation(item, c, objects) for _, c in item.containers]
            else:
                remembered = shared.get("containers")
                if remembered is None:
                    remembered = shared["containers"] = [self._container_activation(item, c, None)
                                                         for _, c in item.containers]
                activations = remembered
            for (path, container), activation in zip(item.containers, activations, strict=True):
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


def _key_of(element: Any) -> str:
    """What a waiver's `keys` names an element by: a Secret key, or the `name` of a list item."""
    if isinstance(element, str):
        return element
    if isinstance(element, dict) and isinstance(element.get("name"), str):
        return element["name"]
    return ""
