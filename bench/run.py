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

then `moltgen check`, the peers and a bare libyaml parse on files of fixed sizes (800 and 10,000
objects, cut from the largest fleet's built output and replicated into renamed namespaces when
it is too small), and `moltgen check` of one object (start-up). gate.py holds issue 25's
targets: the run exits 1 when one is missed (or not measured), and prints them PASS or FAIL.

Wall time is measured around each process; peak memory is the ru_maxrss that os.wait4 returns
for it: the largest resident set of any one process in its tree (moltgen and the kustomize and
sops it runs, checkov and its workers), not their sum. Results go to bench/RESULTS.md (the part
after the profile marker is kept across runs) and bench/results.json.

The modules, one job each: fleet.py generates a fleet project, inputs.py cuts fixed-size
inputs, measure.py runs and measures one process, peers.py installs and runs the peers,
steps.py holds the measured steps, report.py writes the results; this file parses the options.

Run with moltgen's own interpreter (`make bench`, or `.venv/bin/python bench/run.py`): it uses
only the standard library, plus moltgen itself for fleet generation and tool versions.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

import gate
from machine import RESULTS_JSON, RESULTS_MD, ROOT, WORK, load_average, machine, moltgen_cli, moltgen_python
from measure import STARTED, Bench, progress
from peers import ensure_peers
from report import target_rows, to_json, write_markdown
from steps import bench_fixed, bench_fleet, bench_startup

DEFAULT_INSTANCES = "10,100,500"
QUICK_INSTANCES = "10,50"
DEFAULT_FIXED = "800,10000,100000"
QUICK_FIXED = "800,2000"


def sizes(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
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
    parser.add_argument("--no-fleet-peers", action="store_true",
                        help="run the peers on the fixed sizes only (the targets' ratios), not on "
                             "each fleet's built files")
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

    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    WORK.mkdir(parents=True, exist_ok=True)
    peers = None if args.no_peers else ensure_peers()
    info = machine(peers)
    progress(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; "
             f"{info['kustomize_version']}; {info['sops_version']}")

    # An installed package comes with its bytecode (pip compiles it); an editable install
    # compiles on import, and never keeps it where PYTHONDONTWRITEBYTECODE is set (as on
    # this machine), which would charge every run ~0.05 s of compiling that users never pay.
    subprocess.run([str(moltgen_python()), "-m", "compileall", "-q", str(ROOT / "moltgen")],
                   check=True, env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
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
    startup = (bench_startup(bench, [ROOT / p for p in largest["built_files"]], gate.STARTUP_REPEAT)
               if largest else None)
    table = gate.targets(gate.QUICK if args.quick else gate.FULL, fleets, fixed, startup)

    duration = time.perf_counter() - STARTED
    info["load_average_end"] = load_average()
    RESULTS_JSON.write_text(json.dumps({
        "started": started, "duration_s": duration, "argv": args.argv, "repeat": args.repeat,
        "machine": info, "fleets": to_json(fleets), "fixed": to_json(fixed),
        "startup": to_json(startup), "failures": bench.failures,
        "gate": [{"target": a, "measured": b, "result": c} for a, b, c in (t.row() for t in table)],
    }, indent=2) + "\n")
    write_markdown(info, args, fleets, fixed, bench.failures, started, duration, table)
    progress(f"wrote {RESULTS_MD.relative_to(ROOT)} and {RESULTS_JSON.relative_to(ROOT)}")
    for row in target_rows(fleets, fixed):
        progress(f"target: {row[0]}: {row[1]}: {row[2].strip('*')}")
    # The gate of issue 25: exit 1 when a target is missed, as when a step went wrong.
    verdict = gate.gate(table, progress)
    if bench.failures:
        progress(f"{len(bench.failures)} problem(s):")
        for failure in bench.failures:
            print(f"  {failure}", flush=True)
        return 1
    return verdict


if __name__ == "__main__":
    sys.exit(main())
