"""Every command's --help renders: help text goes through rich markup, so a stray `[x]` breaks it."""

import pytest
import typer
from typer.testing import CliRunner

from moltgen.cli import app


def command_paths(command, prefix: tuple[str, ...] = ()):
    yield prefix
    for name, sub in getattr(command, "commands", {}).items():
        yield from command_paths(sub, prefix + (name,))


PATHS = list(command_paths(typer.main.get_command(app)))


def test_the_command_tree_is_walked():
    assert ("build",) in PATHS and ("secrets", "rotate") in PATHS and ("check",) in PATHS


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "moltgen")
def test_help_renders(path):
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
