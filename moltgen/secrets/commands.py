"""`moltgen secrets ...`: keygen, set, rotate, get, updatekeys.

A value never comes from a command-line argument (shell history, `ps` would show it): `set`
reads stdin (a hidden prompt on a terminal), `--from-env VAR` or `--from-file PATH`. After a
change the whole tree is rendered again, so the Deployment's checksum annotation follows the new
ciphertext and the rollout picks the new value up.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from moltgen.errors import Location, MoltgenError, Problem
from moltgen.secrets import age

app = typer.Typer(help="Manage the SOPS-encrypted Secrets of each environment.",
                  no_args_is_help=True)

SpecOption = Annotated[Path, typer.Option("--spec", "-f", help="The spec file.")]
EnvArgument = Annotated[str, typer.Argument(help="Environment, as named in the spec.")]
KeyArgument = Annotated[str, typer.Argument(help="Key in the Secret, e.g. gatewayToken.")]
InstanceOption = Annotated[Optional[str], typer.Option(help="The instance, in a fleet.")]


@app.command()
def keygen(
    key_file: Annotated[Optional[Path], typer.Option(
        "--key-file", help="Append here instead of SOPS_AGE_KEY_FILE or the default "
                           "~/.config/sops/age/keys.txt.")] = None,
) -> None:
    """Create an age identity, append it to the SOPS age key file and print its recipient."""
    identity = age.keygen(key_file)
    typer.echo(f"moltgen: age identity appended to {identity.key_file} (keep it out of the "
               "repository); add the recipient below to sops.ageRecipients in the spec",
               err=True)
    typer.echo(identity.recipient)


# Extra arguments are let through only to be refused without echoing them (a usage error would
# print the value that was typed).
@app.command("set", context_settings={"allow_extra_args": True})
def set_command(
    context: typer.Context,
    env: EnvArgument,
    key: KeyArgument,
    from_env: Annotated[Optional[str], typer.Option(
        "--from-env", metavar="VAR", help="Read the value from this environment variable.")] = None,
    from_file: Annotated[Optional[Path], typer.Option(
        "--from-file", metavar="PATH", help="Read the value from this file.")] = None,
    instance: InstanceOption = None,
    spec: SpecOption = Path("moltgen.yaml"),
) -> None:
    """Set KEY in ENV's Secret; the value comes from stdin, --from-env or --from-file."""
    if context.args:
        raise MoltgenError("a value on the command line is refused (shell history and `ps` "
                           "show it): pipe it on stdin, or use --from-env or --from-file")
    project = _load(spec)
    value = read_value(key, from_env=from_env, from_file=from_file)
    changed = _store().set_secret(project, env, key, value, instance)
    _render(project)
    typer.echo(f"moltgen: set {key} in {changed}", err=True)


@app.command()
def rotate(env: EnvArgument, key: KeyArgument, instance: InstanceOption = None,
           spec: SpecOption = Path("moltgen.yaml")) -> None:
    """Give a generated KEY (gatewayToken) a new random value in ENV's Secret."""
    project = _load(spec)
    changed = _store().rotate_secret(project, env, key, instance)
    _render(project)
    typer.echo(f"moltgen: rotated {key} in {changed}; the Deployment rolls when this is synced",
               err=True)


@app.command()
def get(env: EnvArgument, key: KeyArgument, instance: InstanceOption = None,
        spec: SpecOption = Path("moltgen.yaml")) -> None:
    """Print the decrypted value of KEY in ENV's Secret (needs the private key)."""
    project = _load(spec)
    typer.echo(_store().get_secret(project, env, key, instance))


@app.command()
def updatekeys(spec: SpecOption = Path("moltgen.yaml")) -> None:
    """Re-encrypt every Secret to the age recipients now in the spec."""
    project = _load(spec)
    changed = _store().update_recipients(project)
    _render(project)
    if changed:
        for file in changed:
            typer.echo(f"moltgen: re-encrypted {file} under a new data key", err=True)
    else:
        typer.echo("moltgen: every Secret is already encrypted to the spec's recipients", err=True)


def read_value(key: str, *, from_env: str | None, from_file: Path | None) -> str:
    """The new value, from exactly one source. One trailing newline (what `echo` and most
    editors add) is dropped from stdin and files; the value itself is never echoed."""
    if from_env is not None and from_file is not None:
        raise MoltgenError("give the value with --from-env or --from-file, not both")
    if from_env is not None:
        if from_env not in os.environ:
            raise MoltgenError(f"--from-env {from_env}: that environment variable is not set")
        return os.environ[from_env]
    if from_file is not None:
        try:
            text = from_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise MoltgenError(Problem("no such file", Location(str(from_file)))) from None
        except UnicodeDecodeError:
            raise MoltgenError(Problem("not UTF-8 text", Location(str(from_file)))) from None
        except OSError as exc:
            raise MoltgenError(Problem(f"cannot read: {exc.strerror}",
                                       Location(str(from_file)))) from None
        return _drop_one_newline(text)
    if sys.stdin.isatty():
        return typer.prompt(f"Value for {key}", hide_input=True, confirmation_prompt=True)
    return _drop_one_newline(sys.stdin.read())


def _drop_one_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def _store() -> Any:
    from moltgen.secrets import store  # imports the spec and the pipeline: load on use

    return store


def _load(spec: Path) -> Any:
    from moltgen.spec import load_project  # the spec module imports pydantic: load on use

    return load_project(spec)


def _render(project: Any) -> None:
    # Imported here: the pipeline imports every renderer, which `keygen` and `get` never need.
    from moltgen.pipeline import render

    render(project)
