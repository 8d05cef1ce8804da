"""The kustomize library (moltgen.kustomize.library) prints what `kubectl kustomize` prints,
byte for byte: over every file of tests/corpus built alone and each corpus folder built whole
(the corpus has no kustomization of its own, so each gets one listing its files, copied
unchanged), this repository's kustomizations, the check tests' overlays and every
kustomization of a fleet that bench/fleet.py makes. The library's side is a real worker, asked
directly so that no fallback can hide a difference; kubectl is the reference.

A build kubectl refuses must be refused by the library too (moltgen would otherwise accept
what kubectl does not); a build the library refuses is rebuilt by kubectl in moltgen
(test_library.py), so there both may differ. What this cannot cover: kustomizations unlike
any here (Helm charts and remote bases never reach the library: they need flags or a
network, and those builds run kubectl).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support import REPO

from moltgen.kustomize import engine, ksops, library, netns

KUBECTL = str(Path(sys.executable).parent / "kubectl")
CORPUS = REPO / "tests" / "corpus"
FLEET_INSTANCES = 6  # instance 3 carries the fleet's override


@pytest.fixture(scope="module")
def worker():
    assert library.installed(), "pykustomize is not installed: `make install` installs it"
    started = library.Worker(netns.prefix(), engine._child_env(None, False))
    assert started.unavailable is None, started.unavailable
    yield started
    started.kill()


def kubectl(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True, text=True,
                          env=engine._child_env(None, False), timeout=120, check=False)


def disagreements(worker: library.Worker, directories: list[Path]) -> list[str]:
    """Each directory where the library's outcome is not kubectl's, named with both."""
    assert directories
    with ThreadPoolExecutor(2) as pool:
        references = list(pool.map(kubectl, directories))
    found = []
    for directory, reference in zip(directories, references, strict=True):
        built = worker.build(str(directory), 120)
        if reference.returncode == 0 and built != {"yaml": reference.stdout}:
            found.append(f"{directory}: library {str(built)[:300]!r}\nkubectl {reference.stdout[:300]!r}")
        elif reference.returncode != 0 and "error" not in built:
            found.append(f"{directory}: kubectl refused it ({reference.stderr.strip()[:200]}), "
                         "the library built it")
    return found


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in {".yaml", ".yml", ".json"})


def kustomization_of(directory: Path, files: list[Path]) -> Path:
    directory.mkdir(parents=True)
    for file in files:
        shutil.copyfile(file, directory / file.name)
    (directory / "kustomization.yaml").write_text(
        "resources:\n" + "".join(f"- {file.name}\n" for file in files), encoding="utf-8")
    return directory


def test_every_corpus_file_builds_alike(worker, tmp_path):
    files = corpus_files()
    assert len(files) > 200  # the whole corpus, not a folder of it
    directories = [kustomization_of(tmp_path / "_".join(file.relative_to(CORPUS).parts), [file])
                   for file in files]
    assert disagreements(worker, directories) == []


def test_every_corpus_folder_built_whole_builds_alike(worker, tmp_path):
    """Many objects in one build: kustomize's ordering and its refusals of repeated ids."""
    folders = sorted({file.parent for file in corpus_files()})
    directories = [kustomization_of(tmp_path / folder.name, sorted(folder.glob("*.y*ml")))
                   for folder in folders]
    assert disagreements(worker, directories) == []


def repository_kustomizations(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("kustomization.yaml")
                  if ".venv" not in p.parts and "bench" not in p.parts)


def test_this_repositorys_kustomizations_build_alike(worker):
    """base, the overlays (their KSOPS generators built keyless, as moltgen builds them), and
    the check tests' overlays."""
    found = repository_kustomizations(REPO)
    assert {REPO / "base", REPO / "overlays" / "prod", REPO / "tests" / "check" / "data" / "base"} <= set(found)
    with ksops.keyless(found) as buildable:
        assert disagreements(worker, buildable) == []


def test_a_fleets_kustomizations_build_alike(worker, tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from fleet import write_fleet
    finally:
        sys.path.remove(str(REPO / "bench"))
    project = tmp_path / "fleet"
    write_fleet(project, FLEET_INSTANCES)
    (project / ".git").mkdir()
    rendered = subprocess.run([sys.executable, "-m", "moltgen", "render"], cwd=project,
                              capture_output=True, text=True, timeout=300, check=False)
    assert rendered.returncode == 0, rendered.stderr
    found = repository_kustomizations(project)
    assert len(found) == 3 + 2 * FLEET_INSTANCES  # base, two environments, their instances
    with ksops.keyless(found) as buildable:
        assert disagreements(worker, buildable) == []
