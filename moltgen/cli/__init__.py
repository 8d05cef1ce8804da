"""The command line: the typer app (app.py), its conventions (conventions.py) and one module
per group of verbs. It sits on top of every other package and nothing imports it."""

from moltgen.cli.app import app, main

__all__ = ["app", "main"]
