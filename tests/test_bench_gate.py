"""The bench's throughput gate (bench/gate.py) on synthetic measurements.

No timing is measured here: the measurements are made up, and what is tested is the gate's
logic, that a missed or unmeasured target makes the run exit non-zero and every target is
printed with its verdict, for the quick variant CI runs and the full one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import gate
from measure import Measurement


def measured(wall: float, peak_mb: float = 100.0, ok: bool = True) -> Measurement:
    return Measurement(name="synthetic", command=[], walls=[wall], peaks_mb=[peak_mb], ok=ok)


def run_of(sizes: gate.Sizes, *, checkov: float = 20.0, check_small: float = 1.0,
           check_large: float = 3.0, libyaml: float = 2.0, peak: float = 200.0,
           startup: float = 0.1, cold: float | None = None, change: float = 1.5):
    """fleets, fixed and start-up as bench/run.py collects them, with the walls given."""
    cold = sizes.project_cold_seconds * 0.9 if cold is None else cold
    fixed = [{"objects": sizes.checkov_objects,
              "steps": {"check": measured(check_small), "checkov": measured(checkov)}}]
    large = {"check": measured(check_large, peak), "libyaml": measured(libyaml)}
    if sizes.libyaml_objects == sizes.checkov_objects:
        fixed[0]["steps"].update(large)
    else:
        fixed.append({"objects": sizes.libyaml_objects, "steps": large})
    if sizes.memory_objects != sizes.libyaml_objects:
        fixed.append({"objects": sizes.memory_objects, "steps": {"check": measured(9.0, peak)}})
    fleets = [{"instances": sizes.instances,
               "steps": {"check_project": measured(cold), "check_project_one_change": measured(change)}}]
    return fleets, fixed, measured(startup)


VARIANTS = pytest.mark.parametrize("sizes", [gate.QUICK, gate.FULL], ids=["quick", "full"])


@VARIANTS
def test_every_target_met_exits_zero_and_prints_each_pass(sizes):
    lines: list[str] = []
    table = gate.targets(sizes, *run_of(sizes))
    assert gate.gate(table, lines.append) == 0
    assert len(table) == 6
    assert sum(line.rstrip().endswith("PASS") for line in lines) == 6
    assert lines[-1] == "gate: 6 of 6 targets pass"


MISSES = {
    "checkov": {"checkov": 9.0},  # 9× on a 1 s check
    "libyaml": {"check_large": 4.1},  # 2.05× a 2 s parse
    "memory": {"peak": 251.0},
    "startup": {"startup": 0.16},
    "cold": {"cold": None},  # replaced below: just over the variant's limit
    "change": {"change": 2.01},
}


@VARIANTS
@pytest.mark.parametrize("miss", sorted(MISSES))
def test_one_missed_target_exits_non_zero_and_names_it(sizes, miss):
    overrides = dict(MISSES[miss])
    if miss == "cold":
        overrides["cold"] = sizes.project_cold_seconds * 1.01
    lines: list[str] = []
    table = gate.targets(sizes, *run_of(sizes, **overrides))
    assert gate.gate(table, lines.append) == 1
    failed = [t for t in table if not t.passed]
    assert len(failed) == 1
    assert lines[-1] == f"gate: 5 of 6 targets pass; FAIL: {failed[0].title}"


@VARIANTS
def test_a_target_not_measured_fails(sizes):
    fleets, fixed, startup = run_of(sizes)
    fixed[0]["steps"].pop("checkov")  # --no-peers
    fleets[0]["steps"]["check_project_one_change"].ok = False  # the step went wrong
    table = gate.targets(sizes, fleets, fixed, None)  # no fleet built: no start-up input
    lines: list[str] = []
    assert gate.gate(table, lines.append) == 1
    missing = [t.title for t in table if t.measured is None]
    assert len(missing) == 3
    assert sum("not measured" in line and line.endswith("FAIL") for line in lines) == 3


def test_quick_targets_are_the_full_ones_or_stricter_where_scaled():
    # The quick variant's sizes and limits as gate.py states them: ratios and ceilings kept,
    # the cold project limit scaled per instance.
    assert gate.QUICK.checkov_objects == gate.FULL.checkov_objects == 800
    assert gate.FULL.libyaml_objects == 10_000 and gate.FULL.memory_objects == 100_000
    assert gate.FULL.project_cold_seconds == pytest.approx(10.0)
    assert gate.QUICK.project_cold_seconds == pytest.approx(10.0 * gate.QUICK.instances / 500)
    quick, full = (gate.targets(s, *run_of(s)) for s in (gate.QUICK, gate.FULL))
    for q, f in zip(quick, full, strict=True):
        assert q.at_least == f.at_least
        assert q.limit >= f.limit if q.at_least else q.limit <= f.limit


@pytest.mark.parametrize(("given", "passed"), [(120.0, True), (5.0, False)])
def test_a_checkov_timeout_is_a_lower_bound(given, passed):
    # killed after `given` s on a 1 s check: ≥ 120× passes, ≥ 5× proves nothing
    fleets, fixed, startup = run_of(gate.QUICK)
    fixed[0]["steps"]["checkov"] = Measurement(name="checkov", command=[], walls=[given],
                                               ok=False, timed_out=True)
    table = gate.targets(gate.QUICK, fleets, fixed, startup)
    assert table[0].passed is passed
    assert gate.gate(table, lambda line: None) == (0 if passed else 1)
