"""What `moltgen check` reads: overlays (built with kustomize), YAML files, directories of YAML
files, stdin, or with no argument every overlay of the spec (check.overlays, check.targetset)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from moltgen.check.overlays import Reach, env_of_overlay, load_overlay, project_of_overlay, project_overlays
from moltgen.check.targetset import TargetSet, from_directory, from_files, from_text, read_stdin
from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.progress import SILENT, Progress
from moltgen.kustomize import kustomization

__all__ = ["Reach", "TargetSet", "load_targets"]


def load_targets(targets: list[str], envs: list[str], *, spec: Path | None = None,
                 stdin: Any = None, progress: Progress = SILENT,
                 reach: Reach = Reach(), changed: set[Path] | None = None,
                 shard: Any = None) -> list[TargetSet]:
    """`changed`: only the overlays of the project any of these files is an input of;
    `shard` (check.shard.Shard): only its slice of them."""
    if not targets:
        return project_overlays(spec or Path("moltgen.yaml"), envs, progress, reach, changed, shard)
    if shard is not None:
        raise MoltgenError(Problem("slices the project's overlays: give no TARGET with it",
                                   field="--shard"))
    env = envs[0] if envs else ""
    result = []
    for target in targets:
        if target == "-":
            text = read_stdin(stdin or sys.stdin)
            result.append(from_text("-", text, "<stdin>", env))
            continue
        path = Path(target)
        if not path.exists():
            raise MoltgenError(Problem("no such file or directory", Location(target)))
        if path.is_dir() and _is_kustomization(path):
            overlay_env = env or env_of_overlay(path)
            if envs and overlay_env and overlay_env not in envs:
                continue
            result.append(load_overlay(path, overlay_env, project=project_of_overlay(path),
                                       reach=reach))
        elif path.is_dir():
            result.append(from_directory(path, target, env))
        else:
            result.append(from_files(target, [path], env))
    return result


def _is_kustomization(path: Path) -> bool:
    return any((path / name).is_file() for name in kustomization.FILE_NAMES)
