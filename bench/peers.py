"""The peers moltgen check is compared with: checkov and kubernetes-validate, in their own venv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from machine import PEERS_VENV, ROOT
from measure import Bench, Measurement, _slug, progress


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
