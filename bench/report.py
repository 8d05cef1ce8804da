"""bench/RESULTS.md and bench/results.json from the measurements of one run."""

from __future__ import annotations

import argparse

from gate import Target
from machine import PROFILE_MARKER, PROFILE_PLACEHOLDER, RESULTS_MD
from measure import Measurement
from steps import AROUND_PEERS, WARM_REPEAT

# The targets of issue 15, each measured in one run: ratios between tools on the same input,
# and a warm project check against the cold one of the same run.
CHECKOV_RATIO = 10.0  # checkov wall / moltgen check wall, at least
KUBERNETES_VALIDATE_RATIO = 20.0
RATIO_SIZES = (800, 10_000)
CHECK_100K_MB = 250.0
PROJECT_500_COLD_SECONDS = 10.0
PROJECT_500_WARM_SECONDS = 2.0
PROJECT_500_WARM_SHARE = 0.25  # warm with one instance changed, at most this share of cold
RENDER_500_COLD_SECONDS = 6.0


def fmt_s(m: Measurement | None) -> str:
    if m is None:
        return "–"
    if m.timed_out:
        return f"timeout (> {m.walls[-1]:.0f} s)" if m.walls else "timeout"
    if not m.ok:
        return "failed"
    return f"{m.wall:.2f}"


def fmt_mb(m: Measurement | None) -> str:
    return "–" if m is None or m.peak_mb is None or m.timed_out else f"{m.peak_mb:.0f}"


def fmt_rate(m: Measurement | None) -> str:
    rate = m.objects_per_second if m else None
    return "–" if rate is None else f"{rate:,.0f}"


def with_unit(text: str, unit: str) -> str:
    return f"{text} {unit}" if text[:1].isdigit() else text


def speedup(peer: Measurement | None, ours: Measurement | None) -> float | None:
    """peer wall / ours; a peer that timed out counts with the time it was given (a lower bound)."""
    if peer is None or ours is None or not ours.ok or not ours.wall or not peer.walls:
        return None
    if peer.timed_out:
        return peer.walls[-1] / ours.wall
    return peer.wall / ours.wall if peer.ok else None


def ratio(peer: Measurement | None, ours: Measurement | None) -> str:
    measured = speedup(peer, ours)
    if measured is None:
        return "failed" if peer is not None and not peer.ok and not peer.timed_out else "–"
    return f"> {measured:.0f}×" if peer.timed_out else f"{measured:.1f}×"


STEP_TITLES = {
    "render_cold": "`moltgen render` cold",
    "render_warm": "`moltgen render` warm (nothing changed)",
    "check_built": "`moltgen check` of the built files",
    "check_project": "`moltgen check` of the project, cold build cache (builds every overlay)",
    "check_project_warm": "`moltgen check` of the project, warm cache, nothing changed",
    "check_project_one_change": "`moltgen check` of the project, warm cache, one instance changed",
    "check_changed_since": "`moltgen check --changed-since HEAD`, one instance changed",
    "check_changed_since_fresh": "`moltgen check --changed-since HEAD`, one instance changed, "
                                 "empty cache (a fresh CI runner)",
    "checkov": "checkov (kubernetes) of the built files",
    "kubernetes-validate": "kubernetes-validate --strict of the built files",
}


def step_note(name: str, m: Measurement) -> str:
    notes = []
    if name == "render_cold" and "added" in m.notes:
        notes.append(f"{m.notes['added']} files written")
    if name == "render_warm" and "zero_writes" in m.notes:
        notes.append(f"zero writes verified ({m.notes['files_checked']} files' inode/mtime/ctime)"
                     if m.notes["zero_writes"] else f"{m.notes['files_touched']} files touched")
    if name == "checkov" and m.notes:
        notes.append(f"{m.notes.get('failed', 0)} failed / {m.notes.get('passed', 0)} passed checks")
    if name == "kubernetes-validate" and "error_lines" in m.notes:
        notes.append(f"{m.notes['error_lines']} errors reported")
    if "object_count_mismatch" in m.notes:
        notes.append(m.notes["object_count_mismatch"])
    if m.error and not m.timed_out:
        notes.append(m.error.replace("|", "\\|")[:200])
    return "; ".join(notes)


def target_rows(fleets: list[dict], fixed: list[dict]) -> list[tuple[str, str, str]]:
    def fixed_steps(size: int) -> dict[str, Measurement]:
        return next((entry["steps"] for entry in fixed if entry["objects"] == size), {})

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("**pass**" if ok else "**FAIL**")

    def seconds(m: Measurement | None) -> str:
        if m is None:
            return "–"
        text = with_unit(fmt_s(m), "s")
        if m.ok and len(m.walls) > 1:
            text += f" (median of {len(m.walls)} runs, {min(m.walls):.2f}–{max(m.walls):.2f} s)"
        return text

    rows = []
    for size in RATIO_SIZES:
        steps = fixed_steps(size)
        ours = steps.get("check")
        for peer, wanted in (("checkov", CHECKOV_RATIO),
                             ("kubernetes-validate", KUBERNETES_VALIDATE_RATIO)):
            theirs = steps.get(peer)
            measured = speedup(theirs, ours)
            # a peer that timed out gives a lower bound: below the target it decides nothing
            undecided = measured is None or (theirs.timed_out and measured < wanted)
            rows.append((f"`moltgen check` ≥ {wanted:.0f}× faster than {peer}, {size:,} objects",
                         ratio(theirs, ours) + (" (peer timed out)" if theirs and theirs.timed_out else ""),
                         "not determined" if undecided and measured is not None else
                         verdict(None if measured is None else measured >= wanted)))
    m = fixed_steps(100_000).get("check")
    rows.append((f"`moltgen check`, 100,000 objects ≤ {CHECK_100K_MB:.0f} MB peak",
                 with_unit(fmt_mb(m), "MB") if m else "–",
                 verdict(None if m is None or m.peak_mb is None else
                         (m.ok and m.peak_mb <= CHECK_100K_MB))))
    fleet = next((f for f in fleets if f["instances"] == 500), None)
    steps = fleet["steps"] if fleet else {}
    cold, warm = steps.get("check_project"), steps.get("check_project_one_change")
    rows.append((f"`moltgen check` of the 500-instance project, cold ≤ {PROJECT_500_COLD_SECONDS:.0f} s",
                 seconds(cold), verdict(None if cold is None else
                                        (cold.ok and cold.wall <= PROJECT_500_COLD_SECONDS))))
    limit = None
    if cold is not None and cold.ok and cold.wall:
        limit = min(PROJECT_500_WARM_SECONDS, PROJECT_500_WARM_SHARE * cold.wall)
    rows.append((f"… warm cache, one instance changed, ≤ {PROJECT_500_WARM_SECONDS:.0f} s and "
                 f"≤ {PROJECT_500_WARM_SHARE:.2f} × cold",
                 seconds(warm), verdict(None if warm is None or limit is None else
                                        (warm.ok and warm.wall <= limit))))
    changed = steps.get("check_changed_since")
    rows.append((f"… `--changed-since` (pull request of one instance) ≤ {PROJECT_500_WARM_SECONDS:.0f} s",
                 seconds(changed), verdict(None if changed is None else
                                           (changed.ok and changed.wall <= PROJECT_500_WARM_SECONDS))))
    fresh = steps.get("check_changed_since_fresh")
    # Not one of the targets: what a pull request costs on a runner with no cache.
    rows.append(("… `--changed-since`, empty cache (a fresh CI runner), for information",
                 seconds(fresh), "not a target" if fresh is None or fresh.ok else "**FAIL**"))
    render = steps.get("render_cold")
    rows.append((f"`moltgen render`, 500 instances cold ≤ {RENDER_500_COLD_SECONDS:.0f} s",
                 seconds(render), verdict(None if render is None else
                                          (render.ok and render.wall <= RENDER_500_COLD_SECONDS))))
    warm_render = steps.get("render_warm")
    rows.append(("`moltgen render`, 500 instances warm writes zero files",
                 (("0 files written" if warm_render.notes.get("zero_writes") else
                   f"{warm_render.notes.get('files_touched', '?')} files touched")
                  if warm_render else "–"),
                 verdict(None if warm_render is None else
                         bool(warm_render.ok and warm_render.notes.get("zero_writes")))))
    return rows


def read_profile() -> str:
    try:
        text = RESULTS_MD.read_text()
    except OSError:
        return PROFILE_PLACEHOLDER
    if PROFILE_MARKER not in text:
        return PROFILE_PLACEHOLDER
    kept = text.split(PROFILE_MARKER, 1)[1].lstrip("\n")
    return kept if kept.strip() else PROFILE_PLACEHOLDER


def write_markdown(info: dict, args: argparse.Namespace, fleets: list[dict], fixed: list[dict],
                   failures: list[str], started: str, duration: float,
                   gate_table: list[Target]) -> None:
    profile = read_profile()
    lines = [
        "# moltgen benchmark",
        "",
        f"Written by `bench/run.py` (`make bench`) on {started}, in {duration / 60:.1f} min; "
        f"command: `{' '.join(args.argv)}`. Raw numbers: [results.json](results.json).",
        "",
        "## Machine",
        "",
        f"- CPU: {info['cpu']}, {info['cores']} cores (`os.cpu_count()`)",
        f"- memory: {info['memory_gb']} GB",
        f"- OS: {info['platform']}",
        f"- Python: {info['python']} (`{info['moltgen_python']}`)",
        f"- kustomize engine: `{info['kustomize_engine']}`, {info['kustomize_version']}; offline "
        f"builds through the kustomize library: {info.get('kustomize_library', 'not used')}",
        f"- sops: {info['sops_version']}",
        f"- load average (1, 5, 15 min) at start: {info['load_average_start']}, at end: "
        f"{info.get('load_average_end', 'unknown')} (anything near or above {info['cores']} means "
        "other work was competing for the CPUs)",
    ]
    if "checkov_version" in info:
        lines.append(f"- peers: checkov {info['checkov_version']}, "
                     f"kubernetes-validate {info['kubernetes_validate_version']} "
                     f"(in `bench/.peers-venv`)")
    lines += [
        "",
        "How it was measured: every command is its own process, interpreter start included. "
        f"Each measurement ran {args.repeat} time(s), except that the warm and pull-request "
        f"project checks ran {max(WARM_REPEAT, args.repeat)} times and `moltgen check` of "
        f"each fixed size compared with the peers {max(AROUND_PEERS, args.repeat)} times "
        "(once before the peers, then after them): the wall time shown is the median, the "
        "peak memory the largest `ru_maxrss` that `os.wait4` returned for the command, i.e. the "
        "largest resident set of any one process in its tree (moltgen with the kustomize and "
        "sops it runs; checkov with its forked workers), not their sum. Objects per second is the "
        "number of objects in the built output (for `render`, of every environment) over the "
        "wall time. This is a noisy shared VM: expect ±30% between runs.",
        "",
        "## Targets (issue 15)",
        "",
        "| target | measured | result |",
        "| --- | --- | --- |",
    ]
    rows = target_rows(fleets, fixed)
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines += ["", f"## Gate (issue 25, {'quick' if args.quick else 'full'} variant: bench/gate.py)", "",
              "| target | measured | result |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in (t.row() for t in gate_table)]
    if any("FAIL" in verdict for _, _, verdict in rows):
        lines += ["", "What blocks each target missed, measured and profiled, is under "
                      "[Profile](#profile) (\"Still missed\")."]

    for fleet in fleets:
        steps: dict[str, Measurement] = fleet["steps"]
        environments = fleet.get("environments", [])
        per_env = ", ".join(f"{e} {steps[f'build_{e}'].objects}" for e in environments
                            if steps.get(f"build_{e}") and steps[f"build_{e}"].objects is not None)
        lines += [
            "",
            f"## Fleet of {fleet['instances']} instances",
            "",
            f"{fleet.get('objects', '?')} objects built ({per_env}); project "
            f"`{fleet['project']}`.",
            "",
            "| step | wall s | objects | objects/s | peak MB | notes |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
        ]
        for name, m in steps.items():
            title = STEP_TITLES.get(name) or f"`moltgen build {name.removeprefix('build_')}`"
            lines.append(f"| {title} | {fmt_s(m)} | {m.objects if m.objects is not None else '–'} "
                         f"| {fmt_rate(m)} | {fmt_mb(m)} | {step_note(name, m)} |")

    if fixed:
        lines += [
            "",
            "## Fixed sizes",
            "",
            "Plain YAML files of built objects (as `kustomize build` prints them, Secrets "
            "SOPS-encrypted) taken whole instance by whole instance from the largest fleet's "
            "build of every environment; where that has too few objects, copies follow in "
            "namespaces renamed `<namespace>-rK`.",
            "",
            "| objects | tool | wall s | objects/s | peak MB | notes |",
            "| ---: | --- | ---: | ---: | ---: | --- |",
        ]
        for entry in fixed:
            for name, m in entry["steps"].items():
                tool = "`moltgen check`" if name == "check" else name
                lines.append(f"| {entry['objects']:,} | {tool} | {fmt_s(m)} | {fmt_rate(m)} "
                             f"| {fmt_mb(m)} | {step_note(name, m)} |")

    lines += [
        "",
        "## Peers vs `moltgen check`",
        "",
        "Same input files, same run. Ratio = peer wall time / `moltgen check` wall time "
        "(higher: moltgen is faster). checkov: `checkov -f FILE... --framework kubernetes "
        "--quiet --compact -o json --skip-download`; kubernetes-validate: "
        "`kubernetes-validate --strict --quiet FILE...`. moltgen validates strictly against the "
        "same upstream schemas and runs its rule catalog as well.",
        "",
        "| input | objects | `moltgen check` s | checkov s | checkov ratio "
        "| kubernetes-validate s | kubernetes-validate ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = [(f"fleet of {f['instances']} (built dev+prod)", f.get("objects"),
             f["steps"].get("check_built"), f["steps"].get("checkov"),
             f["steps"].get("kubernetes-validate")) for f in fleets]
    rows += [(f"fixed {e['objects']:,}", e["objects"], e["steps"]["check"],
              e["steps"].get("checkov"), e["steps"].get("kubernetes-validate")) for e in fixed]
    for title, objects, ours, checkov, validate in rows:
        lines.append(f"| {title} | {objects if objects is not None else '–'} | {fmt_s(ours)} "
                     f"| {fmt_s(checkov)} | {ratio(checkov, ours)} | {fmt_s(validate)} "
                     f"| {ratio(validate, ours)} |")

    if failures:
        lines += ["", "## Problems in this run", ""]
        lines += [f"- {failure}" for failure in failures]

    lines += ["", "## Profile", "", PROFILE_MARKER, ""]
    RESULTS_MD.write_text("\n".join(lines) + profile)


def to_json(value):
    if isinstance(value, Measurement):
        return value.to_json()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value
