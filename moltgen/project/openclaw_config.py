"""The whole generated openclaw.json of every overlay, judged by OpenClaw's own schema when the
spec loads: a typo in `config:` stops render with its line in moltgen.yaml, not the gateway at
start. Each problem is reported where its value was written (an instance's or environment's
override, else the top level); a problem in what moltgen itself generates points at the image
tag, which chose the release. So does the choice itself (moltgen.openclaw.schema.select_release):
an error for a tag older than every shipped schema, a warning for one whose own is not shipped."""

from __future__ import annotations

import json
from typing import Any

from moltgen.core.errors import Problem
from moltgen.openclaw.schema import config_problems, select_release
from moltgen.render.openclaw import render_openclaw_config
from moltgen.spec.model import Spec
from moltgen.spec.project import Project


def project_config_problems(project: Project) -> tuple[list[Problem], list[Problem]]:
    """The errors, and the warnings (a schema standing in for the tag's own release)."""
    data = project.document.data
    specs: list[tuple[Spec, list[tuple[Any, ...]]]] = [(project.base, [()])]
    index_of = {id(instance): index for index, instance in enumerate(project.instances)}
    for target in project.targets:
        prefixes: list[tuple[Any, ...]] = [()]
        if isinstance((data.get("environments") or {}).get(target.environment), dict):
            prefixes.insert(0, ("environments", target.environment))
        if target.instance is not None:
            prefixes.insert(0, ("instances", index_of[id(target.instance)], "overrides"))
        specs.append((target.spec, prefixes))
    problems: list[Problem] = []
    warnings: list[Problem] = []
    seen: set[str] = set()
    for spec, prefixes in specs:
        selection = select_release(spec.image.tag)
        if selection.warning:
            warnings.append(_at_tag(project, prefixes, selection.warning))
        release = selection.release
        if release is None:
            problems.append(_at_tag(project, prefixes, selection.error or ""))
            continue
        config = render_openclaw_config(spec)
        key = release + json.dumps(config, sort_keys=True)
        if key in seen:  # most overlays of a fleet share their config shape; validate once
            continue
        seen.add(key)
        for found in config_problems(config, release):
            problems.append(_locate(project, prefixes, found.path, found.message, release))
    return problems, warnings


def _locate(project: Project, prefixes: list[tuple[Any, ...]], path: tuple[Any, ...],
            message: str, release: str) -> Problem:
    document = project.document
    suffix = f" (openclaw.json of OpenClaw {release})"
    unknown = message.startswith("unknown field")
    for prefix in prefixes:  # the most specific layer first
        full = (*prefix, "config", *path)
        if document.has(full):
            return Problem(message + suffix, document.locate(full, key=unknown), _dotted(full))
    # Written by moltgen from a typed setting: the release (the image tag) does not accept it.
    return _at_tag(project, prefixes, f"openclaw.json {_dotted(path)}: {message}{suffix}")


def _at_tag(project: Project, prefixes: list[tuple[Any, ...]], message: str) -> Problem:
    """`message` at the image tag that applies (the most specific layer writing one)."""
    document = project.document
    for prefix in prefixes:
        tag = (*prefix, "image", "tag")
        if document.has(tag):
            return Problem(message, document.locate(tag), _dotted(tag))
    return Problem(message, document.locate(()), None)


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path)
