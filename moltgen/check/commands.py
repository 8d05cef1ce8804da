"""`moltgen check`, `moltgen rules`, `moltgen policy` (placeholder until the check module lands)."""

import typer


def register(app: typer.Typer) -> None:
    """Add the check commands to the top-level app."""
