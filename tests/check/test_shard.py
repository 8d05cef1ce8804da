"""`moltgen check --shard K/N` and `check --merge`: the shards' reports of a 12-instance fleet
joined equal the unsharded check's report, byte for byte, in every merged format, with the
same exit code."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import run_moltgen

INSTANCES = "".join(f"  - name: u{letter}\n" for letter in "abcdefghijkl")
SPEC = ("name: bot\nnamespace: bots\ningress: {enabled: true, host: bots.example.com, className: nginx}\n"
        "environments:\n  dev: {namespace: bots-dev, ingress: {host: dev.bots.example.com}}\n"
        "  prod: {}\ninstances:\n" + INSTANCES
        + "    overrides:\n      resources: {limits: {memory: 4Gi}}\n")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fleet")
    (root / "moltgen.yaml").write_text(SPEC)
    assert run_moltgen("render", cwd=root).code == 0
    return root


@pytest.mark.parametrize("count", [4, 3])
def test_merged_shards_equal_the_whole_check(fleet, count):
    reports = []
    for index in range(1, count + 1):
        shard = run_moltgen("check", "--shard", f"{index}/{count}", "--format", "json", cwd=fleet)
        assert shard.code in (0, 1), shard.stderr
        (fleet / f"shard-{index}.json").write_text(shard.stdout)
        reports.append(f"shard-{index}.json")
    for fmt in ("json", "sarif", "text", "markdown", "github"):
        whole = run_moltgen("check", "--format", fmt, cwd=fleet)
        merged = run_moltgen("check", "--merge", *reversed(reports), "--format", fmt, cwd=fleet)
        assert whole.code == 1 and merged.code == whole.code, merged.stderr
        assert merged.stdout == whole.stdout, fmt


def test_every_overlay_is_in_exactly_one_shard(fleet):
    import json

    counts = [json.loads(run_moltgen("check", "--shard", f"{k}/4", "--format", "json", cwd=fleet).stdout)
              ["summary"]["objects"] for k in (1, 2, 3, 4)]
    whole = json.loads(run_moltgen("check", "--format", "json", cwd=fleet).stdout)["summary"]["objects"]
    assert sum(counts) == whole and all(counts)


def test_a_missing_shard_is_one_located_line(fleet):
    shard = run_moltgen("check", "--shard", "1/2", "--format", "json", cwd=fleet)
    (fleet / "only.json").write_text(shard.stdout)
    merged = run_moltgen("check", "--merge", "only.json", cwd=fleet)
    assert merged.code == 2 and "Traceback" not in merged.stderr
    assert merged.stderr.strip().splitlines() == [
        "moltgen: only.json: shard.index: shard 2/2 is missing: give every shard's report"]


@pytest.mark.parametrize("value", ["0/4", "5/4", "1", "a/b"])
def test_a_bad_shard_is_a_usage_error(fleet, value):
    result = run_moltgen("check", "--shard", value, cwd=fleet)
    assert result.code == 2 and "--shard" in result.stderr and "Traceback" not in result.stderr
