"""This repository's own committed tree is what its spec renders."""

from support import REPO, run_moltgen


def test_committed_tree_equals_a_fresh_render():
    result = run_moltgen("render", "--check", cwd=REPO)
    assert result.code == 0, result.stdout + result.stderr
