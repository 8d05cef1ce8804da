"""Custom rules come from the policy's tree, which a pull request can change: their CEL is
bounded in size, in iterations (the runtime's comprehension budget), in memory (the address
space is capped while rules run: moltgen.check.limits) and in time (--timeout covers the
rules too). An evaluation that hits a bound fails closed: the rule reports an error."""

from __future__ import annotations

from pathlib import Path

from support import run_moltgen

from .conftest import by_rule, check_json

GROW = ("id: grow\nseverity: error\nsummary: s\ndescription: d\n"
        "expression: \"size(object.metadata.name.replace('', object.metadata.name)) > 0\"\nmessage: m\n")


def _project(tmp_path: Path, rule: str, objects: int = 1, name_size: int = 10) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "policy.yaml").write_text("customRules: [rules]\n")
    (tmp_path / "rules" / (rule.split("\n")[0][4:] + ".yaml")).write_text(rule)
    (tmp_path / "c.yaml").write_text("---\n".join(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {'x' * name_size}{i}, namespace: n}}\n"
        for i in range(objects)))




def test_a_string_grown_without_bound_hits_the_memory_budget(tmp_path):
    """200,000 characters replaced into each of their gaps: 40 GB, were it not capped."""
    _project(tmp_path, GROW, name_size=200_000)
    code, report = check_json(tmp_path, "c.yaml", "--policy", "policy.yaml")
    grow = by_rule(report, "grow")
    assert code == 1 and grow and grow[0]["message"] == "rule could not be evaluated: memory budget exceeded"


def test_the_time_budget_covers_the_rules(tmp_path):
    _project(tmp_path, GROW, objects=20, name_size=200_000)
    result = run_moltgen("check", "c.yaml", "--policy", "policy.yaml", "--timeout", "2", cwd=tmp_path)
    assert result.code == 2, result
    # (a progress line may come first: the step is slow)
    assert result.stderr.splitlines()[-1] == "moltgen: c.yaml: check did not finish within the 2 s budget (--timeout)"


def test_a_custom_rule_expression_is_bounded_in_size_and_iterations(tmp_path):
    rules = tmp_path / "rules"
    _project(tmp_path, GROW)
    (rules / "grow.yaml").unlink()
    big = " && ".join(["true"] * 1200)
    (rules / "big.yaml").write_text(f"id: big\nseverity: error\nsummary: s\ndescription: d\n"
                                    f"expression: '{big}'\nmessage: m\n")
    result = run_moltgen("check", "c.yaml", "--policy", "policy.yaml", cwd=tmp_path)
    assert result.code == 2 and "at most 4096 characters" in result.stderr, result
    nested = "true"
    for name in "abcdef":
        nested = f"[1,2,3,4,5,6,7,8,9,10].all({name}, {nested})"
    (rules / "big.yaml").unlink()
    (rules / "loops.yaml").write_text(f"id: loops\nseverity: error\nsummary: s\ndescription: d\n"
                                      f"expression: '{nested}'\nmessage: m\n")
    code, report = check_json(tmp_path, "c.yaml", "--policy", "policy.yaml")
    loops = by_rule(report, "loops")  # a million iterations: stopped, and the rule fails closed
    assert code == 1 and loops and "Iteration budget exceeded" in loops[0]["message"]
