"""A project loaded for use: the spec read as data (moltgen.spec), then the cross-checks that
need the renderer. The objects a spec adds (extraResources, patches, pod parts) are loaded and
judged against what render makes of them (moltgen.project.additions), and each overlay's openclaw.json
is rendered and validated against its release's config schema (moltgen.project.openclaw_config).

This is the one module that joins spec and render, so the spec never imports the renderer
that imports it."""

from __future__ import annotations

from pathlib import Path

from moltgen.core.errors import MoltgenError
from moltgen.project.additions import load_additions
from moltgen.project.openclaw_config import project_config_problems
from moltgen.spec.parse import has_additions, parse_project
from moltgen.spec.problems import dedupe
from moltgen.spec.project import Project


def load_project(path: str | Path = "moltgen.yaml", *, text: str | None = None) -> Project:
    """Load and validate a spec file (or `text`, as if it were that file); MoltgenError with
    one located problem per mistake. What is worth saying but not wrong is left in
    `project.warnings`."""
    project = parse_project(path, text=text)
    raw = project.document.data
    if isinstance(raw, dict) and has_additions(raw):
        project.additions = load_additions(project)
    problems, warnings = project_config_problems(project)
    if problems:
        raise MoltgenError(dedupe(problems))
    project.warnings = dedupe(warnings)
    return project
