"""`moltgen check` on manifests this project did not write (tests/corpus/README.md lists their
sources and licences): the exact findings, one line per finding, are a reviewed snapshot, so a
regression in recall (a finding lost) or in noise (a finding gained) fails the build.

After a deliberate change to the rules, regenerate and review the difference:
`MOLTGEN_UPDATE_CORPUS=1 .venv/bin/python -m pytest tests/check/test_corpus.py`.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from moltgen.check.catalog import load_catalog
from moltgen.check.engine import Engine
from moltgen.check.targets import load_targets
from moltgen.kube.schemas import SchemaSet

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
EXPECTED = CORPUS / "expected.txt"
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
# inputs of other tests, not manifests: upstream CRDs (tools/argocd_schemas.py) and `init --from`
# sources (test_adopt)
NOT_MANIFESTS = ("argo-cd", "adopt")


@pytest.fixture(scope="module")
def findings():
    # Each fixture file is its own target, as `check FILE`; a community deployment is checked
    # as the directory it is applied from, so its objects see each other.
    files = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*")
                   if p.suffix in (".yaml", ".yml", ".json") and p.is_file()
                   and not p.parent.name.startswith("openclaw-")
                   and p.relative_to(CORPUS).parts[0] not in NOT_MANIFESTS)
    files += sorted(p.name for p in CORPUS.glob("openclaw-*") if p.is_dir())
    cwd = os.getcwd()
    os.chdir(CORPUS)  # files are named relative to the corpus
    try:
        engine = Engine(load_catalog(), schemas=SchemaSet("1.33"), now=NOW)
        found = []
        for target in load_targets(files, []):  # each file its own target, as `check FILE`
            found += engine.check(target.stream()).findings
            found += engine.unreadable(target.unreadable, target.env)  # known once read
    finally:
        os.chdir(cwd)
    return found


def _line(finding) -> str:
    where = f"{finding.location.file}:{finding.location.line}" if finding.location else "-"
    # Not the message: CEL iterates maps in no fixed order, so a message listing labels varies.
    return f"{where} {finding.rule} {finding.severity.value} [{finding.object}] {finding.key}".rstrip()


def test_corpus_findings_match_the_reviewed_snapshot(findings):
    lines = sorted(_line(f) for f in findings)
    text = "\n".join(lines) + "\n"
    if os.environ.get("MOLTGEN_UPDATE_CORPUS"):
        EXPECTED.write_text(text)
    expected = EXPECTED.read_text().splitlines()
    lost = sorted(set(expected) - set(lines))
    gained = sorted(set(lines) - set(expected))
    assert not lost and not gained, (f"{len(lost)} finding(s) lost, {len(gained)} gained\n- "
                                     + "\n- ".join(lost[:20]) + "\n+ " + "\n+ ".join(gained[:20]))


def test_every_rule_gives_a_verdict_on_the_corpus(findings):
    assert [f.message for f in findings if "could not be evaluated" in f.message] == []
    assert len({f.location.file for f in findings if f.location}) > 150


def test_corpus_findings_never_print_a_value(findings):
    text = "\n".join(f.message for f in findings)
    assert "placeholder-value-0000" not in text and "placeholder-password-0000" not in text
    assert "Key not found" not in text and "(no apiVersion)" not in text
