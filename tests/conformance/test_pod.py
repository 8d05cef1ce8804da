"""The pod the gateway boots in is as strict as the built Deployment asks a kubelet to make it
(tests/conformance/pod.py): read-only root file system and HOME, writable volumes only, the
ConfigMap read-only, uid/gid 1000 with no capabilities, and no network but loopback. Each is
shown by a process in that pod trying, so a looser emulation fails here."""

from __future__ import annotations

import pytest

from .conftest import RELEASES
from .pod import NAMESPACES, Boot, PodView

pytestmark = [pytest.mark.conformance,
              pytest.mark.skipif(not NAMESPACES, reason="the pod's isolation needs mount and "
                                                        "network namespaces (root)")]

PROBE = r"""
try() { if ( : > "$1/.probe" ) 2>/dev/null; then echo "$2 writable"; else echo "$2 read-only"; fi; }
echo "uid $(id -u) gid $(id -g) groups $(id -G)"
grep -E '^Cap(Eff|Prm|Bnd):' /proc/self/status
try "$HOME" home
try "$OPENCLAW_STATE_DIR" state
try "$XDG_CACHE_HOME" cache
try /tmp tmp
try "$(dirname "$OPENCLAW_CONFIG_PATH")" config
try "$PWD" package
try / root
ls /sys/class/net
"""


@pytest.fixture(scope="module")
def probed(runtimes, overlays, tmp_path_factory) -> str:
    release = RELEASES[0]
    boot = Boot(PodView.of("repo/prod", overlays["repo/prod"]), runtimes[release],
                tmp_path_factory.mktemp("pod"))
    result = boot.run_inside(PROBE)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_gateway_runs_as_1000_with_no_capabilities(probed):
    assert "uid 1000 gid 1000 groups 1000" in probed
    for line in probed.splitlines():
        if line.startswith("Cap"):
            assert line.split()[1] == "0000000000000000", line


@pytest.mark.parametrize("place, expected", [
    ("home", "read-only"), ("config", "read-only"), ("package", "read-only"), ("root", "read-only"),
    ("state", "writable"), ("cache", "writable"), ("tmp", "writable")])
def test_only_the_volumes_are_writable(probed, place, expected):
    assert f"{place} {expected}" in probed.splitlines(), probed


def test_only_loopback_exists(probed):
    assert probed.strip().splitlines()[-1] == "lo", probed
