"""The kustomize library's worker processes (moltgen.kustomize.library): what they are used for,
that kubectl takes over whatever the library refuses, and that the confinement and the budget
of kubectl's builds hold for them (test_library_agrees.py holds their output to kubectl's)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from support import run_moltgen

from moltgen.core.errors import MoltgenError
from moltgen.kustomize import batch, engine, library, netns

CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\ndata: {a: b}\n"


@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    directory = tmp_path / "repo" / "deploy"
    directory.mkdir(parents=True)
    (tmp_path / "repo" / ".git").mkdir()
    (directory / "cm.yaml").write_text(CONFIG_MAP)
    (directory / "kustomization.yaml").write_text("resources:\n- cm.yaml\n")
    return directory


def offline_env() -> dict[str, str]:
    return engine._child_env(None, False)


def test_offline_builds_go_through_the_library_unless_told_otherwise(overlay, monkeypatch):
    assert library.installed(), "pykustomize is not installed: `make install` installs it"
    monkeypatch.delenv(library.OPT_OUT, raising=False)
    monkeypatch.delenv("MOLTGEN_KUSTOMIZE", raising=False)
    assert library.wanted()
    library.close_all()
    built = engine.build(overlay)
    assert "name: ok" in built
    assert any(pool._idle for pool in library._pools.values())  # a worker built it, and waits
    library.close_all()
    for setting in ({library.OPT_OUT: "off"}, {"MOLTGEN_KUSTOMIZE": "/usr/bin/kustomize"}):
        with monkeypatch.context() as patched:
            for name, value in setting.items():
                patched.setenv(name, value)
            assert not library.wanted()
    monkeypatch.setenv(library.OPT_OUT, "off")
    assert engine.build(overlay) == built  # kubectl, and the same bytes
    assert not library._pools


def test_what_the_library_refuses_kubectl_builds_with_its_own_message(overlay, monkeypatch):
    """The error class: kustomize's messages differ between the library and kubectl (the
    library prefixes its own words), so a refused build is built again by kubectl and the
    message users see is kubectl's, as before the library."""
    (overlay / "cm.yaml").write_text("apiVersion: v1\ndata: {a: b}\n")  # no kind, no name
    monkeypatch.delenv("MOLTGEN_KUSTOMIZE", raising=False)
    worker = library.Worker(netns.prefix(), offline_env())
    try:
        refused = worker.build(str(overlay), 60)
    finally:
        worker.kill()
    assert "cm.yaml" in refused["error"]
    messages = []
    for setting in ("on", "off"):
        monkeypatch.setenv(library.OPT_OUT, setting)
        with pytest.raises(MoltgenError) as caught:
            engine.build(overlay)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith(f"{overlay}: kustomize build failed: ")
    assert "kustomize build failed" not in messages[0].split("kustomize build failed: ", 1)[1]


def test_a_fleet_built_through_the_library_is_split_as_kubectl_splits_it(overlay, monkeypatch):
    """batch.build_each builds one overlay per worker request; with the library off it batches
    kubectl runs. Both give each overlay its own build's bytes."""
    directories = []
    for index in range(5):
        directory = overlay.parent / f"i{index}"
        directory.mkdir()
        (directory / "cm.yaml").write_text(CONFIG_MAP.replace("name: ok", f"name: c{index}"))
        (directory / "kustomization.yaml").write_text("namePrefix: p-\nresources:\n- cm.yaml\n")
        directories.append(directory)
    monkeypatch.delenv("MOLTGEN_KUSTOMIZE", raising=False)
    monkeypatch.setenv(library.OPT_OUT, "on")
    through_library = batch.build_each(directories)
    monkeypatch.setenv(library.OPT_OUT, "off")
    assert batch.build_each(directories) == through_library
    assert [text.count("name: p-c") for text in through_library] == [1] * 5


def test_a_worker_that_cannot_start_leaves_kubectl_to_build(overlay, capsys):
    """Here the worker's command exits at once (as when the shared library does not load):
    the pool says so on stderr once and builds nothing itself."""
    pool = library.Pool(("false",), offline_env())
    assert pool.build(overlay, 30) is None
    assert pool.build(overlay, 30) is None
    notices = capsys.readouterr().err.splitlines()
    assert len(notices) == 1 and notices[0].startswith("moltgen: the kustomize library is not used")


@pytest.mark.skipif(not netns.isolation()[0], reason="no network namespace can be made here")
def test_a_worker_reaches_not_even_loopback(overlay, tarpit):
    """Started under kubectl's prefix, a worker is in a network namespace too: with the walk
    bypassed, the request to the tarpit fails at once and never connects."""
    (overlay / "kustomization.yaml").write_text(f"resources:\n- http://127.0.0.1:{tarpit.port}/x.yaml\n")
    worker = library.Worker(netns.prefix(), offline_env())
    try:
        started = time.monotonic()
        assert "error" in worker.build(str(overlay), 20)
        assert time.monotonic() - started < 10
    finally:
        worker.kill()
    assert not tarpit.connections


def test_the_budget_kills_a_worker_held_by_a_request(overlay, tarpit):
    """The control for the test above, and the budget: with no namespace the worker does
    connect and is held; the timeout kills its process group, through the engine as a spent
    budget."""
    (overlay / "kustomization.yaml").write_text(f"resources:\n- http://127.0.0.1:{tarpit.port}/x.yaml\n")
    worker = library.Worker((), offline_env())
    started = time.monotonic()
    with pytest.raises(library.TimedOut):
        worker.build(str(overlay), 3)
    assert time.monotonic() - started < 6
    assert tarpit.connections
    worker.kill()
    with pytest.raises(ProcessLookupError):
        os.killpg(worker.process.pid, 0)


def test_the_checkout_under_review_is_not_on_the_workers_path(overlay, monkeypatch, tmp_path):
    """A pull request's `pykustomize.py` or `json.py` in the working directory is never
    imported by the worker (it runs with `python -P`, by path)."""
    marker = tmp_path / "imported"
    for name in ("pykustomize.py", "json.py", "asyncio.py"):
        (overlay.parent / name).write_text(f"open({str(marker)!r}, 'w').write('{name}')\n")
    monkeypatch.chdir(overlay.parent)
    worker = library.Worker(netns.prefix(), offline_env())
    try:
        assert worker.unavailable is None
        assert "name: ok" in worker.build("deploy", 60)["yaml"]
    finally:
        worker.kill()
    assert not marker.exists()


def test_check_through_the_library_reports_what_kubectl_reports(overlay):
    """A whole `moltgen check` (its own process, worker and all) with and without the library."""
    reports = [run_moltgen("check", "deploy", cwd=overlay.parent,
                           env={library.OPT_OUT: setting, "MOLTGEN_NO_CACHE": "1"})
               for setting in ("on", "off")]
    assert reports[0] == reports[1]
    assert reports[0].code in (0, 1), reports[0].stderr


def test_the_go_runtime_never_loads_into_moltgens_process(overlay, monkeypatch):
    """The library is mapped by the worker only: after a build through it, this process's
    memory maps hold no libpykustomize, the worker's do."""
    monkeypatch.delenv("MOLTGEN_KUSTOMIZE", raising=False)
    monkeypatch.setenv(library.OPT_OUT, "on")
    library.close_all()
    engine.build(overlay)
    workers = [worker for pool in library._pools.values() for worker in pool._idle]
    assert workers
    assert "libpykustomize" not in Path("/proc/self/maps").read_text()
    assert "libpykustomize" in Path(f"/proc/{workers[0].process.pid}/maps").read_text()
    library.close_all()
