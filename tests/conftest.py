"""Fixtures shared by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import MINIMAL_SPEC, Tarpit


@pytest.fixture
def project_dir(tmp_path: Path):
    """A directory with a spec; call it with the spec text."""
    def make(text: str = MINIMAL_SPEC) -> Path:
        (tmp_path / "moltgen.yaml").write_text(text)
        return tmp_path
    return make


@pytest.fixture
def tarpit():
    """A TCP server on loopback that holds every connection and records it."""
    pit = Tarpit()
    yield pit
    pit.close()


@pytest.fixture(autouse=True)
def _own_build_cache(tmp_path_factory, monkeypatch):
    """Every test builds into an empty build cache of its own, never the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))  # seal keys
