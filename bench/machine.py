"""Where things are, which moltgen this is, and the machine and tool versions a run reports."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work"
PEERS_VENV = BENCH / ".peers-venv"
RESULTS_MD = BENCH / "RESULTS.md"
RESULTS_JSON = BENCH / "results.json"
PROFILE_MARKER = "<!-- profile: kept across runs -->"
PROFILE_PLACEHOLDER = "(filled in by the lead)\n"


def moltgen_python() -> Path:
    """The interpreter of moltgen's venv: this one when `make bench` runs us, else .venv's."""
    here = Path(sys.executable).parent
    if (here / "moltgen").exists():
        return Path(sys.executable)
    return ROOT / ".venv" / "bin" / "python"


def moltgen_cli() -> Path:
    return moltgen_python().parent / "moltgen"


def first_line(command: list[str], env: dict[str, str] | None = None, *, lines: int = 1) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)
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
        models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        info["cpu"] = models[0].strip() if models else platform.processor() or "unknown"
    except OSError:
        info["cpu"] = platform.processor() or "unknown"
    try:
        meminfo = Path("/proc/meminfo").read_text()
        kb = int(re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE).group(1))
        info["memory_gb"] = round(kb / 1024 / 1024, 1)
    except (OSError, AttributeError):
        info["memory_gb"] = None
    # The engines exactly as moltgen finds them.
    probe = ("import json\n"
             "from importlib.metadata import version\n"
             "from moltgen.kustomize import library\n"
             "from moltgen.kustomize.engine import engine_command\n"
             "from moltgen.secrets.sops import sops_binary\n"
             "print(json.dumps({'engine': list(engine_command()), 'sops': sops_binary(),\n"
             "                  'library': version('pykustomize') if library.wanted() else None}))\n")
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
    # Offline builds go through the kustomize library's workers when it is installed; the
    # engine above still builds what the library refuses.
    info["kustomize_library"] = f"pykustomize {found['library']}" if found.get("library") else "not used"
    env = dict(os.environ, SOPS_DISABLE_VERSION_CHECK="1")
    info["sops_version"] = first_line([found["sops"], "--version", "--disable-version-check"], env)
    info["moltgen_python"] = str(moltgen_python())
    info["load_average_start"] = load_average()
    if peers:
        info["checkov_version"] = first_line([str(peers["checkov"]), "--version"])
        info["kubernetes_validate_version"] = first_line([str(peers["kubernetes-validate"]),
                                                          "--version"])
    return info
