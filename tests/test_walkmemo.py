"""Walks remembered between runs (moltgen.kustomize.walkmemo): an overlay's confinement and inputs are
taken without walking only while nothing the walks looked at has changed, whatever the kind
of change, even one that keeps a file's size and modification time or swaps a link."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_buildcache import INPUTS, tree, write  # noqa: F401 - the fixture

from moltgen.core.errors import MoltgenError
from moltgen.kustomize import batch, confine, walkmemo
from moltgen.kustomize import engine as kustomize
from moltgen.kustomize.inputs import InputScanner
from moltgen.kustomize.walkmemo import WalkMemo

RACY = 0.05


@pytest.fixture(autouse=True)
def short_racy_window(monkeypatch):
    """Files written by a test are seconds old at most: a short window, and waits past it."""
    monkeypatch.setattr(walkmemo, "RACY_SECONDS", RACY)


def settle() -> None:
    time.sleep(RACY * 3)  # past the racy window, and past a coarse clock tick (4-10 ms)


def remembered(tree: Path, memo: WalkMemo, overlay: Path):
    """Walk and keep `overlay`, as a build does, then ask the memo again."""
    settle()
    memo.put(overlay, tree, InputScanner("engine").inputs(overlay))
    return later(memo).get(overlay, tree)


def later(memo: WalkMemo) -> WalkMemo:
    """The memo as the next run sees it (a run takes each signature once)."""
    return WalkMemo(memo.context, memo.cache.directory)


@pytest.fixture
def memo(tmp_path: Path) -> WalkMemo:
    return WalkMemo("engine", tmp_path.parent / f"{tmp_path.name}-walks")


def test_an_unchanged_overlay_is_taken_from_the_memo(tree, memo):
    overlay = tree / "overlays/a"
    found = remembered(tree, memo, overlay)
    walked = InputScanner("engine").inputs(overlay)
    assert found is not None
    assert (found.digest, found.files, found.directories) == (walked.digest, walked.files, walked.directories)


@pytest.mark.parametrize("name", INPUTS)
def test_a_rewrite_keeping_size_and_times_of_any_input_is_seen(tree, memo, name):
    overlay = tree / "overlays/a"
    assert remembered(tree, memo, overlay) is not None
    path = tree / INPUTS[name]
    before = path.stat()
    text = path.read_text()
    path.write_text(text[:-2] + ("x" if text[-2] != "x" else "y") + text[-1])  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same mtime
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    assert later(memo).get(overlay, tree) is None


@pytest.mark.parametrize("change", ["new file in the overlay", "new file in the base",
                                    "named file appears", "file removed"])
def test_files_appearing_or_going_are_seen(tree, memo, change):
    overlay = tree / "overlays/a"
    (overlay / "kustomization.yaml").write_text(
        (overlay / "kustomization.yaml").read_text() + "configurations:\n- later/naming.yaml\n")
    (overlay / "later").mkdir()
    assert remembered(tree, memo, overlay) is not None
    {"new file in the overlay": lambda: write(overlay / "extra.yaml", "a: 1\n"),
     "new file in the base": lambda: write(tree / "base/extra.yaml", "a: 1\n"),
     "named file appears": lambda: write(overlay / "later/naming.yaml", "a: 1\n"),
     "file removed": lambda: (overlay / "app.json").unlink()}[change]()
    assert later(memo).get(overlay, tree) is None


def test_a_directory_swapped_for_a_link_out_of_the_repository_is_walked_and_refused(tree, memo, tmp_path_factory):
    """The hostile case: a pull request first passes, then the shared component becomes a
    link to a folder outside the checkout. The memo must not vouch for it."""
    outside = tmp_path_factory.mktemp("outside")
    write(outside / "kustomization.yaml", (tree / "shared/kustomization.yaml").read_text())
    write(outside / "label-patch.yaml", (tree / "shared/label-patch.yaml").read_text())
    overlay = tree / "overlays/a"
    assert remembered(tree, memo, overlay) is not None
    os.rename(tree / "shared", tree / "shared-old")
    os.symlink(outside, tree / "shared")
    assert later(memo).get(overlay, tree) is None
    with pytest.raises(MoltgenError, match="outside the repository"):
        confine.check_kustomizations([overlay])


def test_a_result_written_within_the_racy_window_is_not_kept(tree, memo):
    overlay = tree / "overlays/a"
    inputs = InputScanner("engine").inputs(overlay)
    (overlay / "app.json").write_text('{"a": 2}\n')  # just now
    memo.put(overlay, tree, inputs)
    assert later(memo).get(overlay, tree) is None


def test_an_overlay_that_cannot_be_cached_is_never_kept(tree, memo):
    overlay = tree / "overlays/a"
    (overlay / "kustomization.yaml").write_text((overlay / "kustomization.yaml").read_text().replace(
        "- secret.enc.yaml\n", "- secret.enc.yaml\n- https://github.com/example/repo//deploy?ref=v1\n"))
    assert remembered(tree, memo, overlay) is None


@pytest.mark.parametrize("damage", [b"", b"{", b'{"digest": 1}', b"\xff\xfe"])
def test_a_damaged_memo_is_walked_again(tree, memo, damage):
    overlay = tree / "overlays/a"
    assert remembered(tree, memo, overlay) is not None
    for path in memo.cache.directory.rglob("*"):
        if path.is_file() and path.name != ".pruned":
            header = path.read_bytes().partition(b"\n")[0]
            path.write_bytes(damage if not damage else header + b"\n" + damage)
    assert later(memo).get(overlay, tree) is None


def test_builds_confine_and_scan_only_what_the_memo_does_not_vouch_for(tree, monkeypatch, tmp_path):
    """Real kustomize: a second build of both overlays neither confines nor scans them; after
    one changes, only that one is."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    overlays = [tree / "overlays/a", tree / "overlays/b"]
    for overlay in overlays:  # kustomize needs the Secret's generator name to be local only
        (overlay / "kustomization.yaml").write_text(
            (overlay / "kustomization.yaml").read_text().replace("generators:\n- generator.yaml\n", ""))
    confined: list[list[Path]] = []
    scanned: list[Path] = []
    real_confine, real_inputs = confine.check_kustomizations, InputScanner.inputs
    monkeypatch.setattr(confine, "check_kustomizations",
                        lambda dirs, **kw: (confined.append(list(dirs)), real_confine(dirs, **kw))[1])
    monkeypatch.setattr(InputScanner, "inputs",
                        lambda self, d: (scanned.append(d), real_inputs(self, d))[1])
    first = batch.build_parts_keyed(overlays)
    settle()
    confined.clear(), scanned.clear()
    # the first run kept nothing (its files were seconds old): this one keeps both
    assert batch.build_parts_keyed(overlays) == first
    assert scanned == overlays
    confined.clear(), scanned.clear()
    assert batch.build_parts_keyed(overlays) == first
    assert (confined, scanned) == ([[]], [])
    settle()
    confined.clear()
    write(tree / "overlays/b/app.json", '{"b": 2}\n')
    second = batch.build_parts_keyed(overlays)
    assert (confined, scanned) == ([[tree / "overlays/b"]], [tree / "overlays/b"])
    assert second[0] == first[0] and second[1][0] == kustomize.build(tree / "overlays/b")


def test_a_new_folder_beside_the_overlay_leaves_its_result_standing(tree, memo):
    """A new instance's folder changes the folder above this overlay, whose other entries
    this overlay never reads: its result stands."""
    overlay = tree / "overlays/a"
    assert remembered(tree, memo, overlay) is not None
    write(tree / "overlays/c/kustomization.yaml", "resources: []\n")
    assert later(memo).get(overlay, tree) is not None


def test_a_folder_above_swapped_for_a_link_is_seen(tree, memo, tmp_path_factory):
    """The folders above the overlay are watched for their identity: `overlays` replaced by
    a link to a copy outside the checkout is a different folder."""
    import shutil

    overlay = tree / "overlays/a"
    assert remembered(tree, memo, overlay) is not None
    copy = tmp_path_factory.mktemp("copy") / "overlays"
    shutil.copytree(tree / "overlays", copy, symlinks=True)
    os.rename(tree / "overlays", tree / "overlays-old")
    os.symlink(copy, tree / "overlays")
    assert later(memo).get(overlay, tree) is None


def test_repository_roots_are_each_directorys_root(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    nested = tmp_path / "vendor/other"
    (nested / ".git").mkdir(parents=True)
    outside = tmp_path.parent / f"{tmp_path.name}-loose/x"
    directories = [tmp_path / "overlays/dev/a", tmp_path / "overlays/dev/b", nested,
                   tmp_path / "overlays/dev/c", outside, outside.parent / "y"]
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)
    (tmp_path / "overlays/dev/c/moltgen.yaml").write_text("name: c\n")
    monkeypatch.chdir(tmp_path)
    assert confine.repository_roots(directories) == {d: confine.repository_root(d) for d in directories}
