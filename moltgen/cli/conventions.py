"""What makes `moltgen` behave like kubectl, helm and kustomize on the command line: `-h`,
metavars a person reads (`ENV`, `FILE`, `FORMAT`, never a Python type), and every usage error
on one line with exit 2. The command tree typer builds is adjusted once, in one place, so a
command added later follows the same conventions without repeating them.

A usage error never repeats what was typed (an argument in the wrong place may be a secret):
it names the option or argument instead.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Sequence
from typing import Any

from typer import _click
from typer.core import TyperArgument, TyperGroup, TyperOption
from typer.exceptions import Abort

from moltgen.core.errors import MoltgenError, Problem

HELP_OPTIONS = ["-h", "--help"]

# Option name → metavar; other options are named after themselves (`--instance` → NAME below).
_METAVARS = {
    "spec": "FILE", "output": "FILE", "policy": "FILE", "base_policy": "FILE", "from_file": "FILE",
    "key_file": "FILE", "schema_dir": "DIR", "format": "FORMAT", "fmt": "FORMAT", "env": "ENV",
    "instance": "NAME", "fail_on": "SEVERITY", "kubernetes_version": "VERSION", "from_env": "VAR",
    "rule": "RULE", "name": "NAME", "namespace": "NAMESPACE", "lock_timeout": "SECONDS",
    "changed_since": "REVISION", "from_path": "PATH", "age_recipient": "RECIPIENT",
}


def _no_type(ctx: Any = None) -> None:
    return None


def _usage(param: TyperArgument) -> Any:
    """ENV for a required argument, [ENV] for an optional one (not typer's {ENV})."""
    name = f"{param.metavar}{'...' if param.nargs != 1 else ''}"
    return lambda ctx=None: [name if param.required else f"[{name}]"]


def _flag_help_option(command: Any) -> Any:
    original = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = original(ctx)
        if option is not None:
            option.display_type_rich = _no_type
        return option
    return get_help_option


def apply(command: Any) -> None:
    """Metavars for every parameter of `command` and of every command below it."""
    # click's help and usage hooks are replaced on these objects on purpose
    command.get_help_option = _flag_help_option(command)
    for param in getattr(command, "params", []):
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = _METAVARS.get(param.name or "", (param.name or "ARG").upper())
            param.display_type_rich = _no_type  # type: ignore[method-assign]  # the metavar says it
            param.get_usage_pieces = _usage(param)  # type: ignore[method-assign]
        elif isinstance(param, TyperOption):
            if param.is_flag or param.count:
                param.display_type_rich = _no_type  # type: ignore[method-assign]
            elif param.metavar is None:
                param.metavar = _METAVARS.get(param.name or "", (param.name or "VALUE").upper())
    for sub in getattr(command, "commands", {}).values():
        apply(sub)


# How alike a typed name and a real one must be for a suggestion (difflib's ratio): a slip of
# a letter or two, not any word that shares a few letters with an option.
_TYPO = 0.8


def one_line(error: Any) -> str:
    """A click usage error as one line naming the command, never with what was typed (a
    mistyped option may be a pasted secret): only a real name close to it is suggested."""
    ctx = getattr(error, "ctx", None)
    path = ctx.command_path if ctx is not None else "moltgen"
    hint = f"; see '{path} --help'"
    sub = path.partition(" ")[2]
    where = f"{sub}: " if sub else ""  # the caller prints "moltgen: " before it
    if isinstance(error, _click.exceptions.NoSuchOption):
        typed = error.option_name or ""
        close = difflib.get_close_matches(typed, list(error.possibilities or []) or _option_names(ctx),
                                          n=1, cutoff=_TYPO)
        if close:
            return f"{where}no such option (did you mean {close[0]}?){hint}"
        return f"{where}no such option{hint}"
    if isinstance(error, _click.exceptions.MissingParameter):
        return f"{where}missing {_param_kind(error.param)} {_param_name(error.param)}{hint}"
    if isinstance(error, _click.exceptions.BadParameter):
        choices = getattr(getattr(error.param, "type", None), "choices", None)
        allowed = f" (use {', '.join(map(str, choices))})" if choices else ""
        return f"{where}invalid value for {_param_name(error.param)}{allowed}{hint}"
    message = " ".join(str(error.format_message()).split())
    if message.startswith("Got unexpected extra argument"):
        return f"{where}unexpected extra argument{hint}"
    if message.startswith("No such command"):
        named = re.search(r"'([^']*)'", message)
        commands = list(getattr(getattr(ctx, "command", None), "commands", {}) or {})
        close = difflib.get_close_matches(named[1], commands, n=1, cutoff=_TYPO) if named else []
        if close:
            return f"{where}no such command (did you mean {close[0]}?){hint}"
        return f"{where}no such command (commands: {', '.join(commands)}){hint}"
    return f"{where}{message[:1].lower()}{message[1:].rstrip('.')}{hint}"


def _param_kind(param: Any) -> str:
    return "argument" if isinstance(param, TyperArgument) else "option"


def _param_name(param: Any) -> str:
    if param is None:
        return "a parameter"
    if isinstance(param, TyperArgument):
        return str(param.metavar or (param.name or "").upper())
    return max(param.opts, key=len) if param.opts else str(param.name)


def _option_names(ctx: Any) -> list[str]:
    if ctx is None:
        return []
    return [opt for param in ctx.command.params for opt in getattr(param, "opts", [])
            if opt.startswith("-")]


class MoltgenGroup(TyperGroup):
    """The top-level group: conventional help, and usage errors as one line (exit 2)."""

    def __init__(self, **attrs: Any):
        super().__init__(**attrs)
        apply(self)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        try:
            code = super().main(args, prog_name or "moltgen", complete_var,
                                standalone_mode=False, windows_expand_args=windows_expand_args, **extra)
        except _click.exceptions.NoArgsIsHelpError as error:
            print(error.ctx.get_help())
            code = 0
        except _click.exceptions.ClickException as error:
            print(f"moltgen: {one_line(error)}", file=sys.stderr)
            code = 2
        except Abort:
            print("moltgen: aborted", file=sys.stderr)
            code = 1
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


class Verbosity:
    """-q/-v given before the command (`moltgen -q render`) or after it (`moltgen render -q`)."""

    level = 0

    @classmethod
    def of(cls, quiet: bool, verbose: bool) -> int:
        if quiet and verbose:
            raise MoltgenError(Problem("give --quiet or --verbose, not both", field="--quiet"))
        return -1 if quiet else 1 if verbose else cls.level
