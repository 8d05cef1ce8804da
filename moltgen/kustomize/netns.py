"""Offline builds at the operating-system level: kustomize runs in a network namespace of its
own, with no interface up, loopback included, so no address a kustomization names can be
reached, whatever the confinement walk missed.

The proxy settings of engine._OFFLINE_ENV do not stop everything: Go's HTTP client never
sends requests for 127.0.0.1 or localhost through a proxy. A namespace does. Whether one can
be made is known only at run time (CI runners differ: root may make one, an unprivileged user
needs user namespaces, which some kernels and AppArmor profiles refuse), so it is tried once
per process. Where it cannot be made, builds fall back to the proxy settings and one line on
stderr says so. The cost is measured at about 1.5 ms per kustomize run (`unshare -n true`
against `true`, 20 runs each).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import lru_cache

OPT_OUT = "MOLTGEN_BUILD_NETNS"  # "off": no namespace (a machine where one misbehaves)
_PROBE_SECONDS = 10


@lru_cache(maxsize=1)
def isolation() -> tuple[tuple[str, ...], str | None]:
    """The command prefix that runs a program with no network, and why there is none (None
    when there is one)."""
    if os.environ.get(OPT_OUT, "").lower() in {"off", "0", "no", "false"}:
        return (), f"{OPT_OUT}={os.environ[OPT_OUT]}"
    unshare = shutil.which("unshare")
    if unshare is None:
        return (), "no unshare(1) on PATH"
    # As root a network namespace needs nothing more; otherwise a user namespace that maps
    # this user to root makes one possible (files are still read as this user).
    attempts: list[tuple[str, ...]] = [(unshare, "--net", "--")] if os.geteuid() == 0 else []
    attempts.append((unshare, "--user", "--map-root-user", "--net", "--"))
    reason = "unshare refused"
    for prefix in attempts:
        try:
            probe = subprocess.run([*prefix, "true"], capture_output=True, text=True,
                                   timeout=_PROBE_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            reason = f"unshare failed: {exc}"
            continue
        if probe.returncode == 0:
            return prefix, None
        reason = " ".join(probe.stderr.split()) or f"unshare exit code {probe.returncode}"
    return (), reason


_told = False


def prefix() -> tuple[str, ...]:
    """The prefix for an offline build; the first time there is none, say so on stderr."""
    global _told
    command, reason = isolation()
    if not command and not _told:
        _told = True
        from moltgen.core.terminal import safe

        print(f"moltgen: builds run without a network namespace ({safe(reason or '')}); "
              "kustomize is kept offline by proxy settings only", file=sys.stderr)
    return command
