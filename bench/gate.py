"""The throughput gate of issue 25: a table of targets, each measured in this run, PASS or FAIL.

Every target is a ratio or a ceiling measured in the same run, so a slower or busier machine
moves both sides together where it can. A target that this run did not measure (its step
failed, timed out, or was skipped with --no-peers) is a FAIL: a gate passes on evidence only.

The quick variant (`--quick`, for CI) runs smaller sizes. Its targets, stated here:

  checkov ratio     the same 800 objects and the same ≥ 10×: 800 is already small.
  libyaml ratio     the same ≤ 2×, on the largest quick fixed size (2,000 objects) instead of
                    10,000: a per-object ratio does not depend on the size, but a small file
                    weighs moltgen's start-up more, so the quick ratio is the stricter one.
  memory            the same 250 MB ceiling at the largest quick fixed size: not scaled (the
                    interpreter and the schemas alone take ~60 MB), so the quick run catches
                    only a gross regression; the full run is the real check.
  start-up          the same one-object check and the same ≤ 0.15 s.
  project, cold     scaled linearly with the fleet: 10 s / 500 instances = 0.02 s an instance,
                    i.e. ≤ 1.0 s at 50. The fixed cost (start-up, schemas) is not scaled, so
                    this is stricter than the full target.
  project, change   the same ≤ 2 s at 50 instances: one instance's rebuild and the check of the
                    rest, which at 50 instances is less work than at 500 (looser than full).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from measure import Measurement

CHECKOV_RATIO = 10.0  # checkov wall / moltgen check wall on the same file, at least
LIBYAML_RATIO = 2.0  # moltgen check wall / libyaml (CSafeLoader) parse wall of the same file, at most
PEAK_MB = 250.0
STARTUP_SECONDS = 0.15
STARTUP_REPEAT = 10  # one-object checks of the start-up target: their median is the measure
PROJECT_COLD_SECONDS_PER_INSTANCE = 10.0 / 500
PROJECT_CHANGE_SECONDS = 2.0


@dataclass(frozen=True)
class Sizes:
    """What each target is measured on, in one variant of the bench."""
    checkov_objects: int
    libyaml_objects: int
    memory_objects: int
    instances: int

    @property
    def project_cold_seconds(self) -> float:
        return PROJECT_COLD_SECONDS_PER_INSTANCE * self.instances


FULL = Sizes(checkov_objects=800, libyaml_objects=10_000, memory_objects=100_000, instances=500)
QUICK = Sizes(checkov_objects=800, libyaml_objects=2_000, memory_objects=2_000, instances=50)


@dataclass(frozen=True)
class Target:
    title: str
    limit: float
    at_least: bool  # True: the measure must be ≥ limit; False: ≤ limit
    unit: str
    measured: float | None  # None: not measured in this run

    @property
    def passed(self) -> bool:
        if self.measured is None:
            return False
        return self.measured >= self.limit if self.at_least else self.measured <= self.limit

    def row(self) -> tuple[str, str, str]:
        sign = "≥" if self.at_least else "≤"
        shown = "not measured" if self.measured is None else f"{self.measured:.2f}{self.unit}"
        return (f"{self.title} {sign} {self.limit:g}{self.unit}", shown,
                "PASS" if self.passed else "FAIL")


def _wall(m: Measurement | None) -> float | None:
    return m.wall if m is not None and m.ok and m.wall else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def targets(sizes: Sizes, fleets: list[dict], fixed: list[dict],
            startup: Measurement | None) -> list[Target]:
    def fixed_step(objects: int, name: str) -> Measurement | None:
        entry = next((e for e in fixed if e["objects"] == objects), None)
        return entry["steps"].get(name) if entry else None

    checkov = fixed_step(sizes.checkov_objects, "checkov")
    # A checkov run killed at its timeout took at least that long: the ratio is a lower bound,
    # which passes when it reaches the target and otherwise proves nothing (a FAIL).
    checkov_wall = (checkov.walls[-1] if checkov is not None and checkov.timed_out and checkov.walls
                    else _wall(checkov))
    checkov_ratio = _ratio(checkov_wall, _wall(fixed_step(sizes.checkov_objects, "check")))
    check = _wall(fixed_step(sizes.libyaml_objects, "check"))
    libyaml_ratio = _ratio(check, _wall(fixed_step(sizes.libyaml_objects, "libyaml")))
    memory = fixed_step(sizes.memory_objects, "check")
    peak = memory.peak_mb if memory is not None and memory.ok else None
    fleet = next((f for f in fleets if f["instances"] == sizes.instances), {"steps": {}})
    return [
        Target(f"checkov wall / moltgen check wall, {sizes.checkov_objects:,} objects",
               CHECKOV_RATIO, True, "×", checkov_ratio),
        Target(f"moltgen check wall / libyaml parse wall, {sizes.libyaml_objects:,} objects",
               LIBYAML_RATIO, False, "×", libyaml_ratio),
        Target(f"moltgen check peak RSS, {sizes.memory_objects:,} objects",
               PEAK_MB, False, " MB", peak),
        Target(f"one-object moltgen check (median of {STARTUP_REPEAT})",
               STARTUP_SECONDS, False, " s", _wall(startup)),
        Target(f"{sizes.instances}-instance project check, cold",
               round(sizes.project_cold_seconds, 3), False, " s",
               _wall(fleet["steps"].get("check_project"))),
        Target(f"{sizes.instances}-instance project check, one instance changed",
               PROJECT_CHANGE_SECONDS, False, " s",
               _wall(fleet["steps"].get("check_project_one_change"))),
    ]


def gate(table: list[Target], say: Callable[[str], None] = print) -> int:
    """Print the table; 1 if any target failed, else 0."""
    rows = [("target", "measured", "result"), *(t.row() for t in table)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    failed = [t for t in table if not t.passed]
    say(f"gate: {len(table) - len(failed)} of {len(table)} targets pass"
        + (f"; FAIL: {', '.join(t.title for t in failed)}" if failed else ""))
    return 1 if failed else 0
