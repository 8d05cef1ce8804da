"""Fixtures for the secrets tests: real sops, age identities made with pyrage per test, and a
sops environment isolated from the developer's own keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from pyrage import x25519
from secret_helpers import SopsSettings, StandInProject, StandInSpec
from support import isolate_sops


@pytest.fixture(autouse=True)
def isolated_sops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No key sops could find by itself: a fresh HOME and config dir, no SOPS_* variables."""
    return isolate_sops(monkeypatch, tmp_path / "home")


@dataclass(frozen=True)
class Identity:
    recipient: str
    key_file: Path


@pytest.fixture
def make_identity(tmp_path: Path):
    """A new age identity in its own key file (outside any project directory)."""
    keys = tmp_path / "keys"
    keys.mkdir(exist_ok=True)

    def make(name: str) -> Identity:
        identity = x25519.Identity.generate()
        key_file = keys / f"{name}.txt"
        key_file.write_text(f"# public key: {identity.to_public()}\n{identity}\n")
        key_file.chmod(0o600)
        return Identity(str(identity.to_public()), key_file)
    return make


@pytest.fixture
def alice(make_identity, monkeypatch: pytest.MonkeyPatch) -> Identity:
    """An identity whose private key sops can use (SOPS_AGE_KEY_FILE points at it)."""
    identity = make_identity("alice")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(identity.key_file))
    return identity


@pytest.fixture
def bob(make_identity) -> Identity:
    """A second identity, its private key not given to sops unless a test says so."""
    return make_identity("bob")


@pytest.fixture
def project_root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "moltgen.yaml").write_text("# stand-in spec file\n")
    return root


@pytest.fixture
def make_project(project_root: Path):
    """A stand-in project; recipients per environment, e.g. make({"dev": [alice.recipient]})."""
    def make(recipients: dict[str, list[str]]) -> StandInProject:
        return StandInProject(
            spec_path=project_root / "moltgen.yaml",
            environments={env: StandInSpec("clawdbot", "extension-clawdbot", SopsSettings(list(r)))
                          for env, r in recipients.items()})
    return make


