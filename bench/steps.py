"""The measured steps: a fleet's render, build, check and peers; moltgen check on fixed sizes."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from inputs import split_documents
from machine import BENCH, ROOT, WORK, moltgen_cli, moltgen_python
from measure import Bench, Measurement, progress
from peers import measure_peers

SUMMARY = re.compile(r"(\d+) added, (\d+) changed, (\d+) removed")


def snapshot(directory: Path) -> dict[str, tuple[int, int, int, int]]:
    """path -> (inode, size, mtime_ns, ctime_ns) of every file under `directory`."""
    files = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.is_symlink():
            stat = path.stat()
            files[str(path.relative_to(directory))] = (stat.st_ino, stat.st_size,
                                                       stat.st_mtime_ns, stat.st_ctime_ns)
    return files


def snapshot_changes(before: dict, after: dict) -> list[str]:
    changes = [f"added {p}" for p in sorted(after.keys() - before.keys())]
    changes += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    changes += [f"rewritten {p}" for p in sorted(before.keys() & after.keys())
                if before[p] != after[p]]
    return changes


def render_summary(out: Path, err: Path) -> tuple[int, int, int] | None:
    text = out.read_text(errors="replace") + "\n" + err.read_text(errors="replace")
    found = SUMMARY.findall(text)
    return tuple(int(n) for n in found[-1]) if found else None


def check_objects(report: Path) -> int | None:
    try:
        return json.loads(report.read_text())["summary"]["objects"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


KEEP_IN_PROJECT = {"moltgen.yaml", "keys.txt", ".git"}


def clean_project(project: Path) -> None:
    """Remove everything but the spec, the keys and the repository: the next render starts
    from nothing."""
    for entry in project.iterdir():
        if entry.name in KEEP_IN_PROJECT:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def bench_fleet(bench: Bench, instances: int, peers: dict[str, Path] | None) -> dict:
    args = bench.args
    label = f"N={instances}"
    project = WORK / f"fleet-{instances:04d}"
    out_dir = WORK / f"fleet-{instances:04d}.out"
    logs = out_dir / "logs"
    for directory in (project, out_dir):
        if directory.exists():
            shutil.rmtree(directory)
    logs.mkdir(parents=True)
    progress(f"{label}: generating the fleet project in {project.relative_to(ROOT)}")
    subprocess.run([str(moltgen_python()), str(BENCH / "fleet.py"), str(project),
                    "--instances", str(instances)], check=True, stdout=subprocess.DEVNULL)
    # A project is its own repository, as a user's is: its root (where confinement stops and
    # what the caches are keyed by) is the project, not the checkout the bench runs in.
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    # Builds keep their own cache: the project checks below start from an empty one.
    env = dict(os.environ, SOPS_AGE_KEY_FILE=str(project / "keys.txt"),
               XDG_CACHE_HOME=str(out_dir / "cache-builds"))
    cli = str(moltgen_cli())
    steps: dict[str, Measurement] = {}
    result: dict = {"instances": instances, "project": str(project.relative_to(ROOT)),
                    "steps": steps}

    def verify_cold(m: Measurement, out: Path, err: Path) -> None:
        summary = render_summary(out, err)
        if summary is None:
            m.ok, m.error = False, "no 'N added, N changed, N removed' summary line"
            return
        m.notes["added"], m.notes["changed"], m.notes["removed"] = summary
        m.notes["files_in_tree"] = len(snapshot(project)) - len(KEEP_IN_PROJECT)

    steps["render_cold"] = bench.measure(
        f"{label} render cold", [cli, "render"], cwd=project, logs=logs, env=env,
        prepare=lambda: clean_project(project), verify=verify_cold, timeout=args.timeout)
    if not steps["render_cold"].ok:
        return result

    before: dict = {}

    def take_snapshot() -> None:
        before.clear()
        before.update(snapshot(project))

    def verify_warm(m: Measurement, out: Path, err: Path) -> None:
        summary = render_summary(out, err)
        changes = snapshot_changes(before, snapshot(project))
        m.notes["summary"] = summary
        m.notes["files_checked"] = len(before)
        m.notes["files_touched"] = len(changes)
        m.notes["zero_writes"] = summary == (0, 0, 0) and not changes
        if summary != (0, 0, 0):
            m.ok, m.error = False, f"render summary {summary}, expected 0 added, 0 changed, 0 removed"
        elif changes:
            m.ok, m.error = False, f"{len(changes)} file(s) touched: {', '.join(changes[:5])}"

    steps["render_warm"] = bench.measure(
        f"{label} render warm", [cli, "render"], cwd=project, logs=logs, env=env,
        prepare=take_snapshot, verify=verify_warm, timeout=args.timeout)

    environments = sorted(p.name for p in (project / "overlays").iterdir() if p.is_dir())
    built: list[Path] = []
    for environment in environments:
        target = out_dir / f"built-{environment}.yaml"
        measurement = bench.measure(f"{label} build {environment}", [cli, "build", environment],
                                    cwd=project, logs=logs, env=env, stdout=target,
                                    timeout=args.timeout)
        if measurement.ok:
            measurement.objects = len(split_documents(target.read_text()))
            built.append(target)
        steps[f"build_{environment}"] = measurement
    total = sum(steps[f"build_{e}"].objects or 0 for e in environments)
    result["environments"] = environments
    result["objects"] = total
    result["built_files"] = [str(p.relative_to(ROOT)) for p in built]
    counts = ", ".join(f"{e} {steps['build_' + e].objects}" for e in environments)
    progress(f"{label}: {total} objects built ({counts})")
    for name in ("render_cold", "render_warm"):
        steps[name].objects = total
    if len(built) != len(environments):
        return result

    report = out_dir / "check-built.json"
    check = bench.measure(f"{label} check built",
                          [cli, "check", *map(str, built), "--format", "json", "-o", str(report)],
                          cwd=project, logs=logs, env=env, ok_codes=(0, 1), timeout=args.timeout)
    check.objects = check_objects(report)
    steps["check_built"] = check
    measure_project_checks(bench, label, project, out_dir, logs, env, steps)
    for name in ("check_project", "check_project_warm"):
        if name in steps:
            steps[name].objects = steps[name].objects or total

    fleet_peers = None if args.no_fleet_peers else peers
    for peer, measurement in measure_peers(bench, label, fleet_peers, built, out_dir, logs,
                                           args.peer_timeout).items():
        measurement.objects = total
        steps[peer] = measurement
    return result


PEER_SIZE_LIMIT = 10_000
AROUND_PEERS = 3  # moltgen runs of a fixed size compared with the peers: one before them, the rest after
CHANGED_INSTANCE = "user-0001"
WARM_REPEAT = 5  # runs of each warm or pull-request project check (their median is reported)
OVERRIDE = re.compile(r"    overrides: \{resources: \{limits: \{memory: \w+\}\}\}\n")
_CHANGES = itertools.count(1)


def change_one_instance(project: Path, env: dict[str, str]) -> None:
    """Change the memory limit of one instance in the spec to a value it has not had in this
    run, and render: its overlays in every environment change. Every repetition is a change
    no cache has seen (two alternating values would be found built after the first two)."""
    spec = project / "moltgen.yaml"
    text = spec.read_text()
    entry = f"  - name: {CHANGED_INSTANCE}\n    owner: {CHANGED_INSTANCE}\n"
    start = text.index(entry) + len(entry)
    old = OVERRIDE.match(text, start)
    new = f"    overrides: {{resources: {{limits: {{memory: {3000 + next(_CHANGES)}Mi}}}}}}\n"
    spec.write_text(text[:start] + new + text[old.end() if old else start:])
    subprocess.run([str(moltgen_cli()), "render"], cwd=project, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def commit_all(project: Path) -> None:
    """The project as a git repository with everything committed: the base of --changed-since."""
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost",
                        *args], cwd=project, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if not (project / ".git").is_dir():
        git("init", "-q")  # never the checkout the bench runs in: its own repository
    git("add", "-A")
    git("commit", "-q", "--allow-empty", "-m", "bench state")


def measure_project_checks(bench: Bench, label: str, project: Path, out_dir: Path, logs: Path,
                           build_env: dict[str, str], steps: dict[str, Measurement]) -> None:
    """`moltgen check` of the whole project with its build cache cold, warm, warm after a
    one-instance change, and `--changed-since HEAD` after a one-instance change."""
    cache = out_dir / "cache-check"
    env = dict(build_env, XDG_CACHE_HOME=str(cache))
    timeout = bench.args.timeout

    def check(name: str, title: str, extra: list[str], prepare=None, repeat: int = 1) -> Measurement:
        report = out_dir / f"{name}.json"
        m = bench.measure(f"{label} {title}",
                          [str(moltgen_cli()), "check", *extra, "--format", "json", "-o", str(report)],
                          cwd=project, logs=logs, env=env, ok_codes=(0, 1), timeout=timeout,
                          prepare=prepare, repeat=max(repeat, bench.args.repeat))
        m.objects = check_objects(report)
        if m.ok and not m.objects:
            m.ok, m.error = False, "checked no object: the change was not seen"
            bench.failures.append(f"{m.name}: {m.error}")
        steps[name] = m
        return m

    if not check("check_project", "check project cold", [],
                 prepare=lambda: shutil.rmtree(cache, ignore_errors=True)).ok:
        return
    # The short checks are the median of a few runs: this VM's speed varies by up to 2x
    # from one second to the next, and one run of 2 s says little.
    check("check_project_warm", "check project warm", [], repeat=WARM_REPEAT)
    check("check_project_one_change", "check project one change", [],
          prepare=lambda: change_one_instance(project, env), repeat=WARM_REPEAT)

    def prepare_pull_request() -> None:
        commit_all(project)
        change_one_instance(project, env)

    check("check_changed_since", "check changed-since", ["--changed-since", "HEAD"],
          prepare=prepare_pull_request, repeat=WARM_REPEAT)
    # The same pull request on a fresh CI runner: no build, walk or findings cache.
    check("check_changed_since_fresh", "check changed-since, empty cache", ["--changed-since", "HEAD"],
          prepare=lambda: shutil.rmtree(cache, ignore_errors=True), repeat=WARM_REPEAT)


LIBYAML_PARSE = ("import sys, yaml\n"
                 "with open(sys.argv[1], 'rb') as f:\n"
                 "    n = sum(1 for _ in yaml.load_all(f, Loader=yaml.CSafeLoader))\n"
                 "print(n)\n")


def bench_startup(bench: Bench, sources: list[Path], repeat: int) -> Measurement:
    """`moltgen check` of a file of one built object: the start-up of the smallest check."""
    directory = WORK / "startup"
    if directory.exists():
        shutil.rmtree(directory)
    logs = directory / "logs"
    logs.mkdir(parents=True)
    target = directory / "one.yaml"
    subprocess.run([sys.executable, str(BENCH / "inputs.py"), "1", str(target), *map(str, sources)],
                   check=True, capture_output=True)
    m = bench.measure("start-up: one-object check", [str(moltgen_cli()), "check", str(target)],
                      cwd=directory, logs=logs, env=dict(os.environ), ok_codes=(0, 1),
                      timeout=bench.args.timeout, repeat=max(repeat, bench.args.repeat))
    m.objects = 1
    return m


def bench_fixed(bench: Bench, sizes: list[int], sources: list[Path],
                peers: dict[str, Path] | None) -> list[dict]:
    directory = WORK / "fixed"
    if directory.exists():
        shutil.rmtree(directory)
    logs = directory / "logs"
    logs.mkdir(parents=True)
    cli = str(moltgen_cli())
    results = []
    for size in sizes:
        target = directory / f"objects-{size}.yaml"
        # In a child: the bench stays small, so the peaks measured are moltgen's (inputs.py).
        made = subprocess.run([sys.executable, str(BENCH / "inputs.py"), str(size), str(target),
                               *map(str, sources)], check=True, capture_output=True, text=True)
        provenance = json.loads(made.stdout)
        progress(f"fixed {size}: wrote {target.relative_to(ROOT)} "
                 f"({provenance.pop('megabytes'):.1f} MB, {provenance['copies']} pass(es) over "
                 f"{provenance['source_objects']} built objects)")
        report = directory / f"check-{size}.json"

        def check(size: int = size, target: Path = target, report: Path = report) -> Measurement:
            return bench.measure(f"fixed {size} check",
                                 [cli, "check", str(target), "--format", "json", "-o", str(report)],
                                 cwd=directory, logs=logs, env=dict(os.environ), ok_codes=(0, 1),
                                 timeout=bench.args.timeout)
        ours = check()
        steps = {"check": ours}
        # The peers take minutes per 10,000 objects: beyond PEER_SIZE_LIMIT only moltgen runs.
        compared = peers if size <= PEER_SIZE_LIMIT else None
        for peer, measurement in measure_peers(bench, f"fixed {size}", compared, [target], directory,
                                               logs, bench.args.peer_timeout).items():
            measurement.objects = size
            steps[peer] = measurement
        if compared and ours.ok:
            # moltgen runs again after the peers: a peer's minutes average over this VM's slow
            # and fast spells, one run of seconds does not; the median of the runs before and
            # after is what the ratios compare.
            for _ in range(AROUND_PEERS - len(ours.walls)):
                again = check()
                ours.walls += again.walls
                ours.peaks_mb += again.peaks_mb
                ours.ok, ours.error = again.ok, again.error
        if size <= PEER_SIZE_LIMIT:
            # The gate's floor: what libyaml alone takes to parse the same file, as a process
            # of its own like moltgen's (interpreter start included), as many times.
            steps["libyaml"] = bench.measure(
                f"fixed {size} libyaml parse", [str(moltgen_python()), "-c", LIBYAML_PARSE, str(target)],
                cwd=directory, logs=logs, env=dict(os.environ), timeout=bench.args.timeout,
                repeat=max(len(ours.walls), bench.args.repeat))
        ours.objects = check_objects(report)
        if ours.ok and ours.objects != size:
            ours.notes["object_count_mismatch"] = f"moltgen counted {ours.objects}, wrote {size}"
        results.append({"objects": size, "file": str(target.relative_to(ROOT)),
                        "provenance": provenance, "sources": [str(s.relative_to(ROOT)) for s in sources],
                        "steps": steps})
    return results
