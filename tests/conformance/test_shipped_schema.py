"""The shipped schemas are what the real releases print (tools/openclaw_schema.py stores them)."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from moltgen.openclaw.schema import SCHEMA_DIR, printed_schema

from .conftest import RELEASES

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from openclaw_schema import compress, print_schema

pytestmark = pytest.mark.conformance  # installs and runs the real OpenClaw (make test-fast skips it)


@pytest.mark.parametrize("release", RELEASES)
def test_the_stored_schema_is_what_the_release_prints(runtimes, release):
    printed = print_schema(runtimes[release])
    assert printed_schema(release) == printed
    # and the stored bytes are what the maintainer command writes (byte-stable gzip)
    assert (SCHEMA_DIR / f"{release}.json.gz").read_bytes() == compress(printed)
    assert gzip.decompress(compress(printed)) == printed


def test_the_maintainer_command_names_a_release_the_registry_lacks_in_one_line():
    tool = Path(__file__).resolve().parents[2] / "tools" / "openclaw_schema.py"
    result = subprocess.run([sys.executable, str(tool), "2099.1.1"], capture_output=True, text=True,
                            timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("tools/openclaw_schema.py: 2099.1.1: no such OpenClaw release on the npm registry")
