"""The maintainer command tools/openclaw_schema.py: a release the npm registry does not have
stops it in one line, before anything is installed. The registry's listing is stood in for
here (the real registry is asked in tests/conformance/test_shipped_schema.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import openclaw_schema as tool

from moltgen.openclaw.schema import shipped_releases

LISTING = dict.fromkeys(shipped_releases(), "2026-09-24T22:17:03.665Z")


@pytest.fixture
def registry(monkeypatch):
    installed: list[str] = []
    monkeypatch.setattr(tool.installer, "published", lambda: (dict(LISTING), {"latest": shipped_releases()[-1]}))
    monkeypatch.setattr(tool.installer, "install", lambda release, log=None: installed.append(release))
    return installed


def test_a_release_missing_from_the_registry_fails_in_one_line_before_any_install(registry, capsys):
    assert tool.main([shipped_releases()[0], "2099.1.1"]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"tools/openclaw_schema.py: 2099.1.1: no such OpenClaw release on "
                                f"the npm registry (latest: {shipped_releases()[-1]})"]
    assert registry == [] and out == ""


def test_new_lists_the_stable_releases_not_shipped_yet(registry, monkeypatch):
    newer = {"2099.1.1-beta.1": "", "2099.1.1": "", "2099.1.1-1": "", "2099.1.2": ""}
    monkeypatch.setattr(tool.installer, "published", lambda: ({**LISTING, **newer}, {"latest": "2099.1.1-1"}))
    assert tool.wanted(["--new"]) == ["2099.1.1", "2099.1.1-1"]
