from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from moltgen.check.catalog import load_catalog
from moltgen.check.config import PolicyConfig
from moltgen.check.engine import Engine
from moltgen.check.model import Manifest
from moltgen.core.yamlio.parse import load_documents
from moltgen.kube.schemas import SchemaSet

DATA = Path(__file__).parent / "data"
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def manifests(text: str, file: str = "m.yaml", env: str = "") -> list[Manifest]:
    from moltgen.check.targetset import from_documents

    return from_documents(file, load_documents(text, file), env).manifests


def check_text(text: str, *, env: str = "", only: list[str] | None = None,
               policy: PolicyConfig | None = None, schemas: bool = False):
    engine = Engine(load_catalog(), policy, schemas=SchemaSet() if schemas else None, now=NOW,
                    only=only)
    return engine.check(manifests(text, env=env))


@pytest.fixture
def data_dir() -> Path:
    return DATA


def check_json(cwd: Path, *args: str) -> tuple[int, dict]:
    """`moltgen check ARGS --format json` in a real process: its exit code (0 or 1) and report."""
    import json

    from support import run_moltgen

    result = run_moltgen("check", *args, "--format", "json", cwd=cwd)
    assert result.code in (0, 1), result
    return result.code, json.loads(result.stdout)


def by_rule(report: dict, rule: str) -> list[dict]:
    return [f for f in report["findings"] if f["rule"] == rule]
