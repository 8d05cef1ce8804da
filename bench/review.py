"""How long `moltgen diff --base` takes on a fleet: the pull request of one instance's memory
limit, with an empty cache (a fresh CI runner) and a warm one (the same runner again).

    .venv/bin/python bench/review.py [--instances 12] [--repeat 5]

Every run is its own process, interpreter start included; the warm number is the median.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fleet import write_fleet

MOLTGEN = [sys.executable, "-m", "moltgen"]


def run(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
                   cwd=project, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="moltgen-bench-review-") as scratch:
        project = Path(scratch) / "fleet"
        write_fleet(project, args.instances)
        cache = Path(scratch) / "cache"
        env = {**os.environ, "SOPS_AGE_KEY_FILE": str(project / "keys.txt"), "XDG_CACHE_HOME": str(cache)}
        run([*MOLTGEN, "render"], project, env)
        git(project, "init", "-q", "-b", "main")
        git(project, "add", "-A")
        git(project, "commit", "-q", "-m", "base")
        git(project, "checkout", "-q", "-b", "pull-request")
        spec = project / "moltgen.yaml"
        spec.write_text(spec.read_text().replace(
            "  - name: user-0003\n    owner: user-0003\n    overrides: {resources: {limits: {memory: 4Gi}}}\n",
            "  - name: user-0003\n    owner: user-0003\n    overrides: {resources: {limits: {memory: 6Gi}}}\n"))
        run([*MOLTGEN, "render"], project, env)
        git(project, "commit", "-q", "-am", "user-0003: 6Gi")
        command = [*MOLTGEN, "diff", "--base", "main", "--format", "markdown"]
        shutil.rmtree(cache, ignore_errors=True)
        cold = run(command, project, env)
        warm = [run(command, project, env) for _ in range(args.repeat)]
        gate = [*MOLTGEN, "check", "--new-only", "--base", "main"]
        gate_warm = statistics.median(run(gate, project, env) for _ in range(args.repeat))
    print(f"fleet of {args.instances} instances x 2 environments, one instance's memory limit changed")
    print(f"moltgen diff --base main --format markdown: cold (empty cache) {cold:.2f} s, "
          f"warm {statistics.median(warm):.2f} s (median of {args.repeat}, "
          f"{min(warm):.2f}-{max(warm):.2f} s)")
    print(f"moltgen check --new-only --base main: warm {gate_warm:.2f} s (median of {args.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
