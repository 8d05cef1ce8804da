"""Exported admission policies judge every rule fixture exactly as `check` does.

Each policy is evaluated the way the API server evaluates a ValidatingAdmissionPolicy: the
object must match a resource rule, the variables are computed in order (each sees the earlier
ones), then the validation; an evaluation error counts as the failurePolicy says. The CEL is run
by the bundled runtime (cel-expr-python, the CEL C++ runtime), with the Kubernetes quantity
library moltgen also gives `check`.
"""

from __future__ import annotations

import pytest

from moltgen.check import celenv
from moltgen.check.catalog import load_catalog
from moltgen.check.fixtures import findings_for
from moltgen.check.vap import _RESOURCES, export_policy, not_exportable
from moltgen.check.views import without_nulls

CATALOG = load_catalog()
CASES = [(rule, test) for rule in CATALOG.sorted() if not not_exportable(rule) for test in rule.tests]


def admitted(policy: dict, obj: dict) -> bool:
    """Whether the API server would admit `obj` under `policy` (its binding matching)."""
    group, resource = _RESOURCES.get(obj.get("kind"), ("?", "?"))
    spec = policy["spec"]
    if not any(group in r["apiGroups"] and resource in r["resources"]
               for r in spec["matchConstraints"]["resourceRules"]):
        return True
    variables: dict = {}
    for variable in spec.get("variables", []):
        value = run(variable["expression"], obj, variables)
        if not isinstance(value, celenv.EvalError):  # lazy in the API server: an error only
            variables[variable["name"]] = value  # matters where it is used
    [validation] = spec["validations"]
    verdict = run(validation["expression"], obj, variables)
    if isinstance(verdict, celenv.EvalError):
        return spec["failurePolicy"] == "Ignore"
    return verdict is True


def run(expression: str, obj: dict, variables: dict):
    program = celenv.compile_admission_expression(expression)
    return program.run(celenv.admission_activation({"object": obj, "variables": variables}))


@pytest.mark.parametrize("rule, test", CASES, ids=[f"{r.id}:{t.name}" for r, t in CASES])
def test_exported_policy_agrees_with_check_on_every_fixture(rule, test):
    check_denies = bool(findings_for(CATALOG, rule, test))
    if rule.environments and test.env not in rule.environments:
        assert not check_denies  # such a rule is not exported for this environment either
        return
    policy = export_policy(rule, env=test.env, params={**rule.params, **test.params})
    # The API server decodes `field: null` as an absent field before admission sees the object.
    admission_denies = not all(admitted(policy, without_nulls(obj)) for obj in test.objects)
    assert admission_denies == check_denies, policy["spec"]["validations"][0]["expression"]


def test_every_exportable_rule_has_fixtures_both_ways():
    for rule in CATALOG.sorted():
        if not not_exportable(rule):
            assert {t.expect for t in rule.tests} == {"pass", "fail"}, rule.id


def test_a_waived_object_is_admitted_and_the_others_still_denied():
    """The policy file's waivers hold at admission too (issue 23): the object a waiver names
    is left out by a matchCondition, evaluated as the API server does (with the request's
    namespace), while the same rule still denies every other object; a waiver of a rule for
    every object leaves it unexported, as check then never fails on it."""
    from moltgen.check.config import Waiver
    from moltgen.check.vap import export_vap

    rule = CATALOG.rules["host-namespaces"]
    hostile = next(t for t in rule.tests if t.expect == "fail").objects[0]
    waivers = [Waiver(rule="host-namespaces", reason="r", kind=hostile["kind"],
                      name=hostile["metadata"]["name"], namespace="legacy", source="policy.yaml:3"),
               Waiver(rule="privileged", reason="r", source="policy.yaml:9")]
    documents, skipped = export_vap(CATALOG, env="prod", waivers=waivers)
    assert ("privileged", "waived for every object (policy.yaml:9)") in {(s.rule, s.reason) for s in skipped}
    [policy] = [d for d in documents if d["metadata"].get("annotations", {}).get("moltgen.dev/rule")
                == "host-namespaces" and d["kind"] == "ValidatingAdmissionPolicy"]

    def matched(namespace: str) -> bool:
        request = {"namespace": namespace}
        return all(celenv.compile_admission_expression(c["expression"]).run(
            celenv.admission_activation({"object": hostile, "request": request})) is True
            for c in policy["spec"]["matchConditions"])

    assert not matched("legacy")  # waived: the policy does not apply, the object is admitted
    assert matched("other") and not admitted(policy, without_nulls(hostile))  # still denied
