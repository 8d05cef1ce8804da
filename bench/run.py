"""Benchmark moltgen on generated fleets, side by side with checkov and kubernetes-validate.

For each fleet size N (instances; every instance exists in dev and prod) this generates a fleet
project with bench/fleet.py under bench/work/ and times, each command as its own process
(interpreter start included):

  render cold     `moltgen render` on a fresh tree (Secrets encrypted with the real sops)
  render warm     `moltgen render` again with nothing changed; it must write nothing: the
                  summary says "0 added, 0 changed, 0 removed" and no file's inode, mtime or
                  ctime moved
  build ENV       `moltgen build ENV` of every environment, output kept in a file
  check built     `moltgen check` of those built files
  check project   `moltgen check` of the project (it builds every overlay itself)
  peers           checkov (kubernetes framework) and kubernetes-validate (--strict) on the same
                  built files

then `moltgen check` and the peers on files of fixed sizes (800 and 10,000 objects, cut from the
largest fleet's built output and replicated into renamed namespaces when it is too small).

Wall time is measured around each process; peak memory is the ru_maxrss that os.wait4 returns
for it: the largest resident set of any one process in its tree (moltgen and the kustomize and
sops it runs, checkov and its workers), not their sum. Results go to bench/RESULTS.md (the part
after the profile marker is kept across runs) and bench/results.json.

Run with moltgen's own interpreter (`make bench`, or `.venv/bin/python bench/run.py`): it uses
only the standard library, plus moltgen itself for fleet generation and tool versions.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work"
PEERS_VENV = BENCH / ".peers-venv"
RESULTS_MD = BENCH / "RESULTS.md"
RESULTS_JSON = BENCH / "results.json"
PROFILE_MARKER = "<!-- profile: kept across runs -->"
PROFILE_PLACEHOLDER = "(filled in by the lead)\n"

DEFAULT_INSTANCES = "10,100,500"
QUICK_INSTANCES = "10,50"
DEFAULT_FIXED = "800,10000"
QUICK_FIXED = "800,2000"

SUMMARY = re.compile(r"(\d+) added, (\d+) changed, (\d+) removed")

# The targets.
CHECK_800_SECONDS = 1.0
CHECK_10K_SECONDS = 5.0
CHECK_10K_MB = 400.0
RENDER_500_COLD_SECONDS = 90.0
RENDER_500_WARM_SECONDS = 5.0

STARTED = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:7.1f}s] {message}", flush=True)


# --- running one measured process -----------------------------------------------------------

@dataclass
class Run:
    wall: float
    peak_mb: float
    returncode: int | None
    timed_out: bool


def run_once(command: list[str], *, cwd: Path, env: dict[str, str], stdout: Path, stderr: Path,
             timeout: float | None) -> Run:
    """Run `command` to completion; wall time and the ru_maxrss os.wait4 reports for it.

    The child gets its own session, so a timeout kills exactly the process group started here.
    """
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=err, start_new_session=True)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            if timer:
                timer.cancel()
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if timed_out.is_set():
        try:  # workers of a killed process may linger in its group
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return Run(wall=wall, peak_mb=usage.ru_maxrss / 1024.0,
               returncode=None if timed_out.is_set() else process.returncode,
               timed_out=timed_out.is_set())


@dataclass
class Measurement:
    name: str
    command: list[str]
    walls: list[float] = field(default_factory=list)
    peaks_mb: list[float] = field(default_factory=list)
    returncode: int | None = None
    timed_out: bool = False
    ok: bool = True
    error: str | None = None
    objects: int | None = None
    notes: dict = field(default_factory=dict)

    @property
    def wall(self) -> float | None:
        return statistics.median(self.walls) if self.walls else None

    @property
    def peak_mb(self) -> float | None:
        return max(self.peaks_mb) if self.peaks_mb else None

    @property
    def objects_per_second(self) -> float | None:
        if self.objects is None or not self.wall or not self.ok:
            return None
        return self.objects / self.wall

    def to_json(self) -> dict:
        return {
            "name": self.name, "command": self.command, "ok": self.ok, "error": self.error,
            "returncode": self.returncode, "timed_out": self.timed_out,
            "wall_s": self.wall, "walls_s": self.walls, "peak_mb": self.peak_mb,
            "peaks_mb": self.peaks_mb, "objects": self.objects,
            "objects_per_s": self.objects_per_second, "notes": self.notes,
        }


def tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])[:400]


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.failures: list[str] = []

    def measure(self, name: str, command: list[str], *, cwd: Path, logs: Path, env: dict[str, str],
                ok_codes: tuple[int, ...] = (0,), timeout: float | None = None,
                prepare: Callable[[], None] | None = None,
                verify: Callable[[Measurement, Path, Path], None] | None = None,
                stdout: Path | None = None, repeat: int | None = None) -> Measurement:
        """Run `command` `repeat` times (median wall, max peak); `prepare` before each run and
        `verify` after each, both untimed. `verify` sets m.ok / m.error when a run is wrong."""
        measurement = Measurement(name=name, command=[str(part) for part in command])
        logs.mkdir(parents=True, exist_ok=True)
        slug = _slug(name)
        out = stdout or logs / f"{slug}.out"
        err = logs / f"{slug}.err"
        for _ in range(repeat or self.args.repeat):
            if prepare:
                prepare()
            run = run_once(measurement.command, cwd=cwd, env=env, stdout=out, stderr=err,
                           timeout=timeout)
            measurement.walls.append(run.wall)
            measurement.peaks_mb.append(run.peak_mb)
            measurement.returncode = run.returncode
            if run.timed_out:
                measurement.timed_out, measurement.ok = True, False
                measurement.error = f"timeout after {timeout:.0f} s"
                break
            if run.returncode not in ok_codes:
                measurement.ok = False
                measurement.error = f"exit code {run.returncode}: {tail(err) or tail(out)}"
                break
            if verify:
                verify(measurement, out, err)
                if not measurement.ok:
                    break
        if measurement.timed_out:
            progress(f"{name}: timeout after {timeout:.0f} s")
        elif not measurement.ok:
            self.failures.append(f"{name}: {measurement.error}")
            progress(f"{name}: FAILED ({measurement.error})")
        else:
            progress(f"{name}: {measurement.wall:.2f} s, peak {measurement.peak_mb:.0f} MB")
        return measurement


# --- tools -----------------------------------------------------------------------------------

def moltgen_python() -> Path:
    """The interpreter of moltgen's venv: this one when `make bench` runs us, else .venv's."""
    here = Path(sys.executable).parent
    if (here / "moltgen").exists():
        return Path(sys.executable)
    return ROOT / ".venv" / "bin" / "python"


def moltgen_cli() -> Path:
    return moltgen_python().parent / "moltgen"


def ensure_peers() -> dict[str, Path]:
    checkov = PEERS_VENV / "bin" / "checkov"
    validate = PEERS_VENV / "bin" / "kubernetes-validate"
    if not (checkov.exists() and validate.exists()):
        progress(f"creating {PEERS_VENV.relative_to(ROOT)} and installing checkov, "
                 "kubernetes-validate (takes a few minutes)")
        if not (PEERS_VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        subprocess.run([str(PEERS_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        "checkov", "kubernetes-validate"], check=True)
    return {"checkov": checkov, "kubernetes-validate": validate}


def first_line(command: list[str], env: dict[str, str] | None = None, *, lines: int = 1) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    text = (result.stdout or result.stderr).strip()
    return "; ".join(line.strip() for line in text.splitlines()[:lines]) if text else "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def machine(peers: dict[str, Path] | None) -> dict:
    info: dict = {"platform": platform.platform(), "cores": os.cpu_count(),
                  "python": platform.python_version()}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
        info["cpu"] = models[0].strip() if models else platform.processor() or "unknown"
    except OSError:
        info["cpu"] = platform.processor() or "unknown"
    try:
        meminfo = Path("/proc/meminfo").read_text()
        kb = int(re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.M).group(1))
        info["memory_gb"] = round(kb / 1024 / 1024, 1)
    except (OSError, AttributeError):
        info["memory_gb"] = None
    # The engines exactly as moltgen finds them.
    probe = ("import json\n"
             "from moltgen.kustomize import engine_command\n"
             "from moltgen.secrets.sops import sops_binary\n"
             "print(json.dumps({'engine': list(engine_command()), 'sops': sops_binary()}))\n")
    try:
        found = json.loads(subprocess.run([str(moltgen_python()), "-c", probe], capture_output=True,
                                          text=True, timeout=60, check=True).stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        found = {"engine": ["kubectl", "kustomize"], "sops": "sops"}
    engine = found["engine"]
    info["kustomize_engine"] = " ".join(engine)
    if Path(engine[0]).name.startswith("kubectl"):
        info["kustomize_version"] = first_line([engine[0], "version", "--client"], lines=2)
    else:
        info["kustomize_version"] = first_line([engine[0], "version"])
    env = dict(os.environ, SOPS_DISABLE_VERSION_CHECK="1")
    info["sops_version"] = first_line([found["sops"], "--version", "--disable-version-check"], env)
    info["moltgen_python"] = str(moltgen_python())
    info["load_average_start"] = load_average()
    if peers:
        info["checkov_version"] = first_line([str(peers["checkov"]), "--version"])
        info["kubernetes_validate_version"] = first_line([str(peers["kubernetes-validate"]),
                                                          "--version"])
    return info


# --- YAML documents, as text -----------------------------------------------------------------

def split_documents(text: str) -> list[str]:
    """The documents of a multi-document stream as kustomize prints it (`---` lines between)."""
    documents, current = [], []
    for line in text.splitlines(keepends=True):
        if line.rstrip("\r\n") == "---":
            documents.append("".join(current))
            current = []
        else:
            current.append(line)
    documents.append("".join(current))
    return [doc for doc in documents
            if any(ln.strip() and not ln.lstrip().startswith("#") for ln in doc.splitlines())]


NAMESPACE_LINE = re.compile(r"^  namespace: (\S+)\s*$")


def metadata_namespace(document: str) -> tuple[int, str] | None:
    """(line index, namespace) of metadata.namespace in a kustomize-printed document."""
    lines = document.splitlines()
    inside = False
    for index, line in enumerate(lines):
        if line.startswith("metadata:"):
            inside = True
        elif inside and line and not line.startswith(" "):
            return None
        elif inside:
            match = NAMESPACE_LINE.match(line)
            if match:
                return index, match.group(1).strip("'\"")
    return None


def renamed(document: str, suffix: str) -> str | None:
    found = metadata_namespace(document)
    if found is None:
        return None  # cluster-scoped: a copy would duplicate it
    index, namespace = found
    lines = document.splitlines(keepends=True)
    lines[index] = f"  namespace: {namespace}{suffix}\n"
    return "".join(lines)


def fixed_size_stream(sources: list[Path], count: int) -> tuple[str, dict]:
    """`count` objects from the built files: whole namespaces (instances) in order, then copies
    of them in namespaces renamed `<namespace>-rK` until there are enough."""
    groups: dict[str, list[str]] = {}
    for source in sources:
        for document in split_documents(source.read_text()):
            found = metadata_namespace(document)
            groups.setdefault(found[1] if found else "", []).append(document)
    if not groups:
        raise RuntimeError("no objects in the built output")
    chosen: list[str] = []
    copy = 0
    while len(chosen) < count:
        for documents in groups.values():
            for document in documents:
                if len(chosen) == count:
                    break
                doc = document if copy == 0 else renamed(document, f"-r{copy}")
                if doc is not None:
                    chosen.append(doc)
        copy += 1
        if copy > 10 * count:
            raise RuntimeError("cannot reach the object count (only cluster-scoped objects?)")
    text = "".join(doc if doc.endswith("\n") else doc + "\n" for doc in
                   _joined(chosen))
    return text, {"copies": copy, "source_objects": sum(map(len, groups.values())),
                  "namespaces": len(groups)}


def _joined(documents: list[str]) -> list[str]:
    return [documents[0]] + ["---\n" + doc for doc in documents[1:]] if documents else []


# --- fleet steps -----------------------------------------------------------------------------

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


KEEP_IN_PROJECT = {"moltgen.yaml", "keys.txt"}


def clean_project(project: Path) -> None:
    """Remove everything but the spec and the keys: the next render starts from nothing."""
    for entry in project.iterdir():
        if entry.name in KEEP_IN_PROJECT:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def peer_commands(peers: dict[str, Path], files: list[Path]) -> dict[str, list[str]]:
    return {
        "checkov": [str(peers["checkov"]), "-f", *map(str, files), "--framework", "kubernetes",
                    "--quiet", "--compact", "-o", "json", "--skip-download"],
        "kubernetes-validate": [str(peers["kubernetes-validate"]), "--strict", "--quiet",
                                *map(str, files)],
    }


def peer_env() -> dict[str, str]:
    # No network here: don't let checkov wait on Prisma Cloud for its guideline mappings.
    return dict(os.environ, BC_SKIP_MAPPING="TRUE")


def measure_peers(bench: Bench, label: str, peers: dict[str, Path] | None, files: list[Path],
                  cwd: Path, logs: Path, timeout: float) -> dict[str, Measurement]:
    results: dict[str, Measurement] = {}
    if not peers:
        return results
    for peer, command in peer_commands(peers, files).items():
        out = logs / f"{_slug(label)}-{peer}.out"
        # kubernetes-validate ORs 1 (invalid) and 2 (unknown kind/version) into its exit code.
        ok_codes = (0, 1) if peer == "checkov" else (0, 1, 2, 3)
        measurement = bench.measure(f"{label} {peer}", command, cwd=cwd, logs=logs, env=peer_env(),
                                    ok_codes=ok_codes, timeout=timeout, stdout=out)
        if peer == "checkov" and measurement.ok:
            measurement.notes.update(checkov_summary(out))
        if peer == "kubernetes-validate" and measurement.ok:
            measurement.notes["error_lines"] = out.read_text(errors="replace").count("ERROR ")
        results[peer] = measurement
    return results


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def checkov_summary(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    reports = data if isinstance(data, list) else [data]
    summary: dict = {"passed": 0, "failed": 0, "resource_count": 0}
    for report in reports:
        for key in summary:
            summary[key] += (report.get("summary") or {}).get(key, 0)
    return summary


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
    env = dict(os.environ, SOPS_AGE_KEY_FILE=str(project / "keys.txt"))
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
    report = out_dir / "check-project.json"
    check = bench.measure(f"{label} check project",
                          [cli, "check", "--format", "json", "-o", str(report)],
                          cwd=project, logs=logs, env=env, ok_codes=(0, 1), timeout=args.timeout)
    check.objects = check_objects(report)
    steps["check_project"] = check

    for peer, measurement in measure_peers(bench, label, peers, built, out_dir, logs,
                                           args.peer_timeout).items():
        measurement.objects = total
        steps[peer] = measurement
    return result


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
        text, provenance = fixed_size_stream(sources, size)
        target.write_text(text)
        progress(f"fixed {size}: wrote {target.relative_to(ROOT)} "
                 f"({len(text) / 1e6:.1f} MB, {provenance['copies']} pass(es) over "
                 f"{provenance['source_objects']} built objects)")
        report = directory / f"check-{size}.json"
        check = bench.measure(f"fixed {size} check",
                              [cli, "check", str(target), "--format", "json", "-o", str(report)],
                              cwd=directory, logs=logs, env=dict(os.environ), ok_codes=(0, 1),
                              timeout=bench.args.timeout)
        check.objects = check_objects(report)
        if check.ok and check.objects != size:
            check.notes["object_count_mismatch"] = f"moltgen counted {check.objects}, wrote {size}"
        steps = {"check": check}
        for peer, measurement in measure_peers(bench, f"fixed {size}", peers, [target], directory,
                                               logs, bench.args.peer_timeout).items():
            measurement.objects = size
            steps[peer] = measurement
        results.append({"objects": size, "file": str(target.relative_to(ROOT)),
                        "provenance": provenance, "sources": [str(s.relative_to(ROOT)) for s in sources],
                        "steps": steps})
    return results


# --- report ------------------------------------------------------------------------------------

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


def ratio(peer: Measurement | None, ours: Measurement | None) -> str:
    if peer is None or ours is None or not ours.ok or not ours.wall:
        return "–"
    if peer.timed_out:
        return f"> {peer.walls[-1] / ours.wall:.0f}×" if peer.walls else "timeout"
    if not peer.ok:
        return "failed"
    return f"{peer.wall / ours.wall:.1f}×"


STEP_TITLES = {
    "render_cold": "`moltgen render` cold",
    "render_warm": "`moltgen render` warm (nothing changed)",
    "check_built": "`moltgen check` of the built files",
    "check_project": "`moltgen check` of the project (builds every overlay)",
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
    def fixed_check(size: int) -> Measurement | None:
        for entry in fixed:
            if entry["objects"] == size:
                return entry["steps"]["check"]
        return None

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("**pass**" if ok else "**FAIL**")

    rows = []
    m = fixed_check(800)
    rows.append((f"`moltgen check`, 800 objects ≤ {CHECK_800_SECONDS:.1f} s",
                 with_unit(fmt_s(m), "s") if m else "–",
                 verdict(None if m is None else (m.ok and m.wall <= CHECK_800_SECONDS))))
    m = fixed_check(10000)
    rows.append((f"`moltgen check`, 10,000 objects ≤ {CHECK_10K_SECONDS:.0f} s",
                 with_unit(fmt_s(m), "s") if m else "–",
                 verdict(None if m is None else (m.ok and m.wall <= CHECK_10K_SECONDS))))
    rows.append((f"`moltgen check`, 10,000 objects ≤ {CHECK_10K_MB:.0f} MB",
                 with_unit(fmt_mb(m), "MB") if m else "–",
                 verdict(None if m is None else (m.ok and m.peak_mb <= CHECK_10K_MB))))
    fleet = next((f for f in fleets if f["instances"] == 500), None)
    cold = fleet["steps"].get("render_cold") if fleet else None
    warm = fleet["steps"].get("render_warm") if fleet else None
    rows.append((f"`moltgen render`, 500 instances cold ≤ {RENDER_500_COLD_SECONDS:.0f} s",
                 with_unit(fmt_s(cold), "s") if cold else "–",
                 verdict(None if cold is None else (cold.ok and cold.wall <= RENDER_500_COLD_SECONDS))))
    rows.append((f"`moltgen render`, 500 instances warm ≤ {RENDER_500_WARM_SECONDS:.0f} s",
                 with_unit(fmt_s(warm), "s") if warm else "–",
                 verdict(None if warm is None else (warm.ok and warm.wall <= RENDER_500_WARM_SECONDS))))
    rows.append(("`moltgen render`, 500 instances warm writes zero files",
                 (("0 files written" if warm.notes.get("zero_writes") else
                   f"{warm.notes.get('files_touched', '?')} files touched") if warm else "–"),
                 verdict(None if warm is None else bool(warm.ok and warm.notes.get("zero_writes")))))
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
                   failures: list[str], started: str, duration: float) -> None:
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
        f"- kustomize engine: `{info['kustomize_engine']}`, {info['kustomize_version']}",
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
        f"Each measurement ran {args.repeat} time(s): the wall time shown is the median, the "
        "peak memory the largest `ru_maxrss` that `os.wait4` returned for the command, i.e. the "
        "largest resident set of any one process in its tree (moltgen with the kustomize and "
        "sops it runs; checkov with its forked workers), not their sum. Objects per second is the "
        "number of objects in the built output (for `render`, of every environment) over the "
        "wall time. This is a noisy shared VM: expect ±30% between runs.",
        "",
        "## Targets (issue 6)",
        "",
        "| target | measured | result |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in target_rows(fleets, fixed)]

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


# --- main ----------------------------------------------------------------------------------------

def sizes(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}")
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"need positive integers: {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=sizes,
                        help=f"fleet sizes (default {DEFAULT_INSTANCES}; --quick: {QUICK_INSTANCES})")
    parser.add_argument("--fixed", type=sizes,
                        help=f"object counts of the fixed-size files (default {DEFAULT_FIXED}; "
                             f"--quick: {QUICK_FIXED})")
    parser.add_argument("--quick", action="store_true", help="small sizes, a shorter peer timeout")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each measurement K times and take the median (default 1)")
    parser.add_argument("--no-peers", action="store_true", help="skip checkov and kubernetes-validate")
    parser.add_argument("--peer-timeout", type=float,
                        help="seconds before a peer run is killed and recorded as timeout "
                             "(default 600; --quick: 120)")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds before a moltgen run is killed (default 1800)")
    args = parser.parse_args(argv)
    args.argv = ["bench/run.py", *(sys.argv[1:] if argv is None else argv)]
    args.instances = args.instances or sizes(QUICK_INSTANCES if args.quick else DEFAULT_INSTANCES)
    args.fixed = args.fixed if args.fixed is not None else sizes(QUICK_FIXED if args.quick
                                                                  else DEFAULT_FIXED)
    args.peer_timeout = args.peer_timeout or (120.0 if args.quick else 600.0)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not moltgen_cli().exists():
        print(f"run.py: {moltgen_cli()} not found: run `make install` first", file=sys.stderr)
        return 2

    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    WORK.mkdir(parents=True, exist_ok=True)
    peers = None if args.no_peers else ensure_peers()
    info = machine(peers)
    progress(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; "
             f"{info['kustomize_version']}; {info['sops_version']}")

    bench = Bench(args)
    fleets = [bench_fleet(bench, n, peers) for n in args.instances]
    fixed: list[dict] = []
    largest = max((f for f in fleets if f.get("built_files")), key=lambda f: f["objects"],
                  default=None)
    if args.fixed and largest:
        sources = [ROOT / p for p in largest["built_files"]]
        fixed = bench_fixed(bench, args.fixed, sources, peers)
    elif args.fixed:
        bench.failures.append("fixed sizes skipped: no fleet was built")

    duration = time.perf_counter() - STARTED
    info["load_average_end"] = load_average()
    RESULTS_JSON.write_text(json.dumps({
        "started": started, "duration_s": duration, "argv": args.argv, "repeat": args.repeat,
        "machine": info, "fleets": to_json(fleets), "fixed": to_json(fixed),
        "failures": bench.failures,
    }, indent=2) + "\n")
    write_markdown(info, args, fleets, fixed, bench.failures, started, duration)
    progress(f"wrote {RESULTS_MD.relative_to(ROOT)} and {RESULTS_JSON.relative_to(ROOT)}")
    for row in target_rows(fleets, fixed):
        progress(f"target: {row[0]}: {row[1]}: {row[2].strip('*')}")
    if bench.failures:
        progress(f"{len(bench.failures)} problem(s):")
        for failure in bench.failures:
            print(f"  {failure}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
