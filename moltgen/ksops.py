"""Build an Argo CD overlay without KSOPS and without a key: what the gate judges.

Argo CD's repo server builds an overlay with its KSOPS generator (`viaduct.ai/v1`, kind `ksops`),
an external plugin that decrypts the listed files and hands kustomize the Secrets in them;
those Secrets then go through the overlay's transformers (namespace, labels, patches) like any
resource. CI has neither the plugin nor the key, and moltgen judges Secrets from their encrypted
file anyway (`moltgen.secrets.facts`). So the build that check, build and diff run lists each
KSOPS generator's files as resources instead: the same objects Argo CD applies, in the same
namespace with the same labels, still encrypted, exactly as a Flux overlay (which lists its
`secret.enc.yaml` as a resource) is built and judged.

Nothing is written into the repository: every kustomization that uses KSOPS, or includes one
that does, is copied into a temporary directory and rewritten there; everything else is
referenced where it is.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from moltgen.errors import Location, MoltgenError, Problem
from moltgen.yamlio import dump_yaml, load_file

API_VERSION = "viaduct.ai/v1"
KIND = "ksops"
_KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_DIRECTORY_LISTS = ("resources", "bases", "components")


def is_ksops_generator(data: Any) -> bool:
    return isinstance(data, dict) and data.get("kind") == KIND \
        and str(data.get("apiVersion", "")).startswith("viaduct.ai/")


def generator_files(directory: Path, entry: Any) -> list[str] | None:
    """The encrypted files a `generators:` entry of `directory` decrypts, if it is a KSOPS
    generator file; None for anything else (another plugin, a directory, a URL)."""
    if not isinstance(entry, str) or "://" in entry:
        return None
    path = directory / entry
    if not path.is_file():
        return None
    documents = load_file(path, str(path))
    if len(documents) != 1 or not is_ksops_generator(documents[0].data):
        return None
    config = documents[0].data
    if config.get("secretFrom"):
        raise MoltgenError(Problem(
            "secretFrom makes Secrets from decrypted files, which cannot be judged without the "
            "key; list encrypted Secret manifests under files", Location(str(path))))
    files = config.get("files") or []
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise MoltgenError(Problem("files must be a list of paths", Location(str(path)), "files"))
    # KSOPS reads its files relative to the kustomization, as kustomize reads resources.
    return [os.path.normpath(os.path.join(os.path.dirname(entry), f)) for f in files]


@contextmanager
def keyless(directories: list[Path]) -> Iterator[list[Path]]:
    """`directories`, each replaced by a temporary rewritten copy when it (or a kustomization
    it includes) uses a KSOPS generator; the copies are removed afterwards."""
    planner = _Planner()
    if not any(planner.needs_copy(d.resolve()) for d in directories):
        yield directories
        return
    with tempfile.TemporaryDirectory(prefix="moltgen-keyless-") as temporary:
        planner.temporary = Path(temporary)
        yield [planner.copy(d.resolve()) for d in directories]


class _Planner:
    def __init__(self) -> None:
        self.temporary: Path | None = None
        self._needs: dict[Path, bool] = {}
        self._copies: dict[Path, Path] = {}
        self._kustomizations: dict[Path, tuple[Path, dict[str, Any]] | None] = {}

    def kustomization(self, directory: Path) -> tuple[Path, dict[str, Any]] | None:
        if directory not in self._kustomizations:
            file = next((directory / n for n in _KUSTOMIZATION_NAMES if (directory / n).is_file()),
                        None)
            found = None
            if file is not None:
                documents = load_file(file, str(file))
                if documents and isinstance(documents[0].data, dict):
                    found = (file, documents[0].data)
            self._kustomizations[directory] = found
        return self._kustomizations[directory]

    def needs_copy(self, directory: Path, branch: tuple[Path, ...] = ()) -> bool:
        if directory in self._needs:
            return self._needs[directory]
        if directory in branch:  # a cycle: kustomize reports it
            return False
        found = self.kustomization(directory)
        needs = False
        if found is not None:
            data = found[1]
            needs = any(generator_files(directory, g) is not None
                        for g in data.get("generators") or [])
            needs = needs or any(self.needs_copy(child, (*branch, directory))
                                 for child in _local_directories(directory, data))
        self._needs[directory] = needs
        return needs

    def copy(self, directory: Path) -> Path:
        """The directory to build in place of `directory`: itself, or its rewritten copy."""
        if not self.needs_copy(directory):
            return directory
        if directory in self._copies:
            return self._copies[directory]
        assert self.temporary is not None
        target = self.temporary / str(len(self._copies))
        self._copies[directory] = target
        file, data = self.kustomization(directory)  # type: ignore[misc]
        # Not the kustomizations it includes (a fleet's instances): each is copied, or
        # referenced where it is, on its own.
        included = set(_local_directories(directory, data))
        shutil.copytree(directory, target, symlinks=True,
                        ignore=lambda folder, names: [n for n in names
                                                      if Path(folder, n).resolve() in included])
        data = dict(data)
        for key in _DIRECTORY_LISTS:
            if isinstance(data.get(key), list):
                data[key] = [self._reference(directory, target, item) for item in data[key]]
        generators, resources = [], list(data.get("resources") or [])
        for entry in data.get("generators") or []:
            files = generator_files(directory, entry)
            if files is None:
                generators.append(entry)
            else:
                resources.extend(files)
        data["resources"] = resources
        if generators:
            data["generators"] = generators
        else:
            data.pop("generators", None)
        (target / file.name).write_text(dump_yaml(data), encoding="utf-8")
        return target

    def _reference(self, directory: Path, target: Path, item: Any) -> Any:
        """A `resources` entry as seen from the copy: local directories outside the copied
        files point back at the original (or at their own copy)."""
        if not isinstance(item, str) or "://" in item:
            return item
        path = (directory / item).resolve()
        if not path.is_dir():
            return item  # a file: copied along with the directory
        return os.path.relpath(self.copy(path), target)


def _local_directories(directory: Path, data: dict[str, Any]) -> list[Path]:
    found = []
    for key in _DIRECTORY_LISTS:
        for item in data.get(key) or []:
            if isinstance(item, str) and "://" not in item:
                path = (directory / item).resolve()
                if path.is_dir():
                    found.append(path)
    return found

