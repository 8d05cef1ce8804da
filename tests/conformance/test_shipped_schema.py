"""The shipped schemas are what the real releases print (tools/openclaw_schema.py stores them)."""

from __future__ import annotations

import gzip
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
