"""`moltgen --version`: this release, and the engines and schemas its results depend on.

A bug report or a CI log then says which kustomize built the overlays, which sops encrypted the
Secrets and which schemas judged them. The two binaries are asked at the same time, each with a
short timeout; one that is missing, hangs or answers in an unknown form prints "missing" or
"unknown" rather than failing the command.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from moltgen.core.errors import MoltgenError
from moltgen.core.release import release
from moltgen.kube.schemas import bundled_versions
from moltgen.kustomize.engine import engine_command
from moltgen.openclaw.schema import shipped_releases
from moltgen.secrets.sops import SopsError, sops_binary

PROBE_SECONDS = 5.0
MISSING = "missing"
UNKNOWN = "unknown"


def version_lines() -> list[str]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        kustomize = pool.submit(_kustomize_version)
        sops = pool.submit(_sops_version)
        kustomize_version, sops_version = kustomize.result(), sops.result()
    return [f"moltgen {release()}",
            f"kustomize {kustomize_version}",
            f"sops {sops_version}",
            f"kubernetes schemas {_range(bundled_versions)}",
            f"openclaw schemas {_range(shipped_releases)}"]


def _kustomize_version() -> str:
    try:
        command = engine_command()
    except MoltgenError:
        return MISSING
    if command[-1] == "kustomize":  # kubectl's built-in engine: `kubectl version --client`
        output = _ask([command[0], "version", "--client"])
        found = re.search(r"^Kustomize Version:\s*(\S+)", output or "", re.MULTILINE)
    else:  # a kustomize binary (or MOLTGEN_KUSTOMIZE): `kustomize version`
        output = _ask([command[0], "version"])
        found = re.search(r"(v?\d+\.\d+\.\d+\S*)", output or "")
    if output is None:
        return MISSING
    return found[1] if found else UNKNOWN


def _sops_version() -> str:
    try:
        binary = sops_binary()
    except SopsError:
        return MISSING
    # Without --disable-version-check sops asks GitHub for the latest release.
    output = _ask([binary, "--version", "--disable-version-check"])
    if output is None:
        return MISSING
    found = re.search(r"^sops (\S+)", output, re.MULTILINE)
    return found[1] if found else UNKNOWN


def _ask(command: list[str]) -> str | None:
    """The command's output, or None when it cannot run, fails or outlives the probe."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_SECONDS,
                                stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def _range(shipped: Callable[[], tuple[str, ...]]) -> str:
    """'first to last (n)' of what the package ships; "missing" when its data is absent."""
    try:
        found = shipped()
    except (MoltgenError, OSError):
        return MISSING
    if not found:
        return MISSING
    return f"{found[0]} to {found[-1]} ({len(found)})"
