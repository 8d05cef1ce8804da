"""The `moltgen` command line: parse arguments, call the module that does the work, map errors
to exit codes. Exit 0 clean, 1 findings or drift, 2 bad input, a missing tool or a failing sops
call, always as one line per problem and never as a Python traceback."""

from __future__ import annotations

import os
import sys

import typer

from moltgen.check.commands import register as register_check_commands
from moltgen.errors import MoltgenError
from moltgen.secrets.commands import app as secrets_app

app = typer.Typer(
    name="moltgen",
    help="Compile a Moltbot (OpenClaw) spec into a Kustomize GitOps tree, encrypt its Secrets "
         "with SOPS, and lint what Argo CD or Flux will apply.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(secrets_app, name="secrets")
register_check_commands(app)


def main() -> None:
    try:
        app()  # standalone: typer reports usage errors itself (exit 2) and exits
    except MoltgenError as error:
        for problem in error.problems:
            print(f"moltgen: {problem}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("moltgen: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("MOLTGEN_DEBUG"):
            raise
        # The type only, not str(error): an unexpected message could carry a secret value.
        print(f"moltgen: internal error ({type(error).__name__}); rerun with MOLTGEN_DEBUG=1 "
              "for details", file=sys.stderr)
        sys.exit(2)
