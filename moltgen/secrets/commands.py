"""`moltgen secrets ...` (placeholder until the secrets module lands)."""

import typer

app = typer.Typer(help="Manage the SOPS-encrypted Secrets of each environment.", no_args_is_help=True)
