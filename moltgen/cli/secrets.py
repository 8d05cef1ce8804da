"""`moltgen secrets ...`: keygen, set, rotate, get, updatekeys.

A value never comes from a command-line argument (shell history, `ps` would show it): `set`
reads stdin (a hidden prompt on a terminal), `--from-env VAR` or `--from-file PATH`. A change is
written together with the rest of the tree, rendered again in the same transaction, so the
Deployment's checksum annotation follows the new ciphertext and the rollout picks the new value
up. Nothing typed on the command line is ever repeated in an error: a value pasted where a key,
an option or an environment belongs would be shown (`SecretsGroup`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

# typer vendors click from 0.26 on (pyproject.toml bounds typer to the versions that do): its
# exceptions, not those of a click installed beside it, are what typer raises.
from typer._click import exceptions as click
from typer.core import TyperGroup

from moltgen.core.errors import MoltgenError, Problem
from moltgen.core.terminal import say
from moltgen.secrets import age

MAX_VALUE_BYTES = 1024 * 1024  # a whole Kubernetes Secret is at most 1 MiB


class SecretsGroup(TyperGroup):
    """Usage errors of `moltgen secrets ...` without what was typed: click would print a
    mistyped option, an extra argument or an unknown command as it was given, and that may be
    the secret value, pasted in the wrong place."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as error:
            raise _without_input(error) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            raise _without_input(error) from None


def _without_input(error: click.UsageError) -> click.UsageError:
    if isinstance(error, click.MissingParameter):
        return error  # names the parameter only
    if isinstance(error, click.NoSuchOption):
        hint = ""
        if error.possibilities:  # moltgen's own option names
            hint = f"; did you mean {' or '.join(sorted(error.possibilities))}?"
        message = f"no such option (what was typed is not repeated: it may be a secret){hint}"
    elif isinstance(error, click.BadParameter) and error.param is not None:
        message = (f"invalid value for {error.param.get_error_hint()} (what was typed is "
                   "not repeated: it may be a secret)")
    else:
        message = ("unexpected argument, option or command (what was typed is not repeated: "
                   "it may be a secret); see --help")
    return click.UsageError(message, error.ctx)


app = typer.Typer(help="Manage the SOPS-encrypted Secrets of each environment.",
                  no_args_is_help=True, cls=SecretsGroup)

SpecOption = Annotated[Path, typer.Option("--spec", "-f", help="The spec file.")]
EnvArgument = Annotated[str, typer.Argument(help="Environment, as named in the spec.")]
KeyArgument = Annotated[str, typer.Argument(help="Key in the Secret, e.g. gatewayToken.")]
InstanceOption = Annotated[str | None, typer.Option(help="The instance, in a fleet.")]
AllInstancesOption = Annotated[bool, typer.Option(
    "--all-instances", help="In a fleet: the Secret of every instance of ENV, written together.")]


@app.command()
def keygen(
    key_file: Annotated[Path | None, typer.Option(
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
    from_env: Annotated[str | None, typer.Option(
        "--from-env", metavar="VAR", help="Read the value from this environment variable.")] = None,
    from_file: Annotated[Path | None, typer.Option(
        "--from-file", metavar="PATH", help="Read the value from this file.")] = None,
    instance: InstanceOption = None,
    all_instances: AllInstancesOption = False,
    spec: SpecOption = Path("moltgen.yaml"),
) -> None:
    """Set KEY in ENV's Secret; the value comes from stdin, --from-env or --from-file."""
    if context.args:
        raise MoltgenError("a value on the command line is refused (shell history and `ps` "
                           "show it): pipe it on stdin, or use --from-env or --from-file")
    project = _load(spec)
    targets = _instances(project, instance, all_instances)
    value = read_value(key, from_env=from_env, from_file=from_file)
    changed = _render(project, lambda: _each(targets, lambda one: _store().set_secret(
        project, env, key, value, one)))
    say(f"moltgen: set {key} in {', '.join(changed)}", err=True)


@app.command()
def rotate(env: EnvArgument, key: KeyArgument, instance: InstanceOption = None,
           all_instances: AllInstancesOption = False,
           spec: SpecOption = Path("moltgen.yaml")) -> None:
    """Give a generated KEY (gatewayToken) a new random value in ENV's Secret (with
    --all-instances, a value of its own in each instance's)."""
    project = _load(spec)
    targets = _instances(project, instance, all_instances)
    changed = _render(project, lambda: _each(targets, lambda one: _store().rotate_secret(
        project, env, key, one)))
    say(f"moltgen: rotated {key} in {', '.join(changed)}; the Deployment rolls when this "
        "is synced", err=True)


@app.command()
def get(env: EnvArgument,
        key: Annotated[str | None, typer.Argument(help="Key in the Secret, e.g. gatewayToken; without one, every key is listed with its value masked.")] = None,
        instance: InstanceOption = None,
        spec: SpecOption = Path("moltgen.yaml")) -> None:
    """Print the decrypted value of KEY in ENV's Secret; without KEY, list every key of ENV's
    Secrets (each instance's in a fleet) as set or empty, the value masked (needs the
    private key either way)."""
    project = _load(spec)
    if key is not None:
        typer.echo(_store().get_secret(project, env, key, instance))
        return
    lines = []
    for file, keys in _store().masked_values(project, env, instance):
        lines.append(file)
        width = max((len(name) for name, _ in keys), default=0)
        lines += [f"  {name:<{width}}  " + (f"set    {shown}" if shown else "empty")
                  for name, shown in keys]
    typer.echo("\n".join(lines))


@app.command()
def updatekeys(spec: SpecOption = Path("moltgen.yaml")) -> None:
    """Re-encrypt every Secret to the age recipients now in the spec.

    A removed recipient can still decrypt every value it could read, from git history: the
    command names the values to rotate."""
    project = _load(spec)
    rekeyed: list[Any] = []

    def edit() -> dict[str, bytes]:
        rekeyed.extend(_store().update_recipients(project))
        return {item.file: item.content for item in rekeyed}

    _render(project, edit)
    if not rekeyed:
        typer.echo("moltgen: every Secret is already encrypted to the spec's recipients", err=True)
    for item in rekeyed:
        say(f"moltgen: re-encrypted {item.file} under a new data key", err=True)
        if item.removed and item.keys:
            say(f"moltgen: warning: {item.file}: {', '.join(item.removed)} can still "
                f"decrypt every value it could read ({', '.join(item.keys)}) from the "
                f"commits before this one: rotate them: {_rotate_commands(project, item)}",
                err=True)


def _rotate_commands(project: Any, item: Any) -> str:
    """How to give each value of `item` a new one: generated keys rotate, others are revoked
    where they were issued and set again."""
    target = next(t for t in project.targets if item.file.startswith(f"{t.directory}/")
                  and "/" not in item.file[len(t.directory) + 1:])
    where = f"{target.environment}" + (f" --instance {target.instance.name}" if target.instance else "")
    generated = {key.name for key in target.spec.secret_keys() if key.generated}
    return "; ".join(f"`moltgen secrets rotate {where} {key}`" if key in generated else
                     f"revoke {key} where it was issued, then `moltgen secrets set {where} {key}`"
                     for key in item.keys)


def read_value(key: str, *, from_env: str | None, from_file: Path | None) -> str:
    """The new value, from exactly one source. One trailing newline (what `echo` and most
    editors add) is dropped from stdin and files; the value itself is never echoed."""
    if from_env is not None and from_file is not None:
        raise MoltgenError("give the value with --from-env or --from-file, not both")
    # Errors name the option, not what was typed after it (see SecretsGroup).
    if from_env is not None:
        if from_env not in os.environ:
            raise MoltgenError(Problem("the environment variable it names is not set",
                                       field="--from-env"))
        # Out of this process's environment, so no child (sops, kustomize) inherits it.
        return os.environ.pop(from_env)
    if from_file is not None:
        try:
            with open(from_file, "rb") as handle:  # a FIFO (`<(pass show ...)`) is fine
                return _drop_one_newline(_utf8(handle.read(MAX_VALUE_BYTES + 1), "--from-file"))
        except FileNotFoundError:
            raise MoltgenError(Problem("no such file", field="--from-file")) from None
        except OSError as exc:
            raise MoltgenError(Problem(f"cannot read: {exc.strerror}", field="--from-file")) from None
    if sys.stdin.isatty():
        return typer.prompt(f"Value for {key}", hide_input=True, confirmation_prompt=True)
    return _drop_one_newline(_utf8(sys.stdin.buffer.read(MAX_VALUE_BYTES + 1), "stdin"))


def _utf8(data: bytes, source: str) -> str:
    """The value as text: UTF-8 only (a replacement character would be stored silently)."""
    if len(data) > MAX_VALUE_BYTES:
        raise MoltgenError(Problem(f"the value is larger than {MAX_VALUE_BYTES} bytes, the most "
                                   "a Kubernetes Secret holds", field=source))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MoltgenError(Problem(f"the value is not UTF-8 text (byte {exc.start}); refused",
                                   field=source)) from None


def _drop_one_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text.removesuffix("\n")


def _store() -> Any:
    from moltgen.secrets import store  # imports the spec and the pipeline: load on use

    return store


def _instances(project: Any, instance: str | None, all_instances: bool) -> list[str | None]:
    """The instances a command edits: the one named, or with --all-instances every one (a
    project without instances has one Secret per environment)."""
    if not all_instances:
        return [instance]
    if instance is not None:
        raise MoltgenError(Problem("name one instance or all of them, not both",
                                   field="--all-instances"))
    return [one.name for one in project.instances] or [None]


def _each(instances: list[str | None], edit: Any) -> dict[str, bytes]:
    """The Secret files `edit` returns for each instance, as one edit (one transaction)."""
    files: dict[str, bytes] = {}
    for instance in instances:
        files.update(edit(instance))
    return files


def _load(spec: Path) -> Any:
    from moltgen.project import load_project  # the spec module imports pydantic: load on use
    from moltgen.tree import recover

    project = load_project(spec)
    recover(project.root)  # a render killed after its commit is completed before any Secret is read
    return project


def _render(project: Any, edit: Any) -> list[str]:
    """Render the project with the Secret files `edit` returns, in one transaction; the files
    `edit` changed. Imported here: the pipeline imports every renderer, which `keygen` and `get`
    never need."""
    from moltgen.pipeline import render

    changed: list[str] = []

    def recorded() -> dict[str, bytes]:
        files = edit()
        changed.extend(files)
        return files

    render(project, edit=recorded)
    return changed
