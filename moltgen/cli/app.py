"""The `moltgen` command line: parse arguments, call the module that does the work, map errors
to exit codes. Exit 0 clean, 1 findings or drift, 2 bad input, a missing tool or a failing sops
call, always as one line per problem and never as a Python traceback."""

from __future__ import annotations

import gc
import json
import os
import shlex
import signal
import sys
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from moltgen.cli.access import register as register_access_command
from moltgen.cli.check import register as register_check_commands
from moltgen.cli.conventions import HELP_OPTIONS, MoltgenGroup, Verbosity
from moltgen.cli.secrets import app as secrets_app
from moltgen.core.errors import Location, MoltgenError, Problem, os_problem
from moltgen.core.progress import Progress
from moltgen.core.terminal import safe, say

# The spec, renderer and pipeline are imported by the commands that use them: importing
# pydantic and building the spec's models is a third of a second that `check FILE` never needs.

app = typer.Typer(
    name="moltgen",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=MoltgenGroup,
    context_settings={"help_option_names": HELP_OPTIONS},
)
app.add_typer(secrets_app, name="secrets")
register_check_commands(app)
register_access_command(app)

SpecOption = Annotated[Path, typer.Option("--spec", "-f", help="The spec file.")]
AllowRemoteOption = Annotated[bool, typer.Option(
    "--allow-remote", help="Let kustomize fetch remote bases, git repositories and OpenAPI URLs "
                           "(default: the repository only, no network).")]
TimeoutOption = Annotated[float, typer.Option(
    "--timeout", min=1, metavar="SECONDS", help="Time budget of all kustomize builds together.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print only warnings and errors.")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Print more: every file written.")]
# Render lists the files it wrote when there are this few, and under -v always; a fleet's
# render writes thousands, which no one reads (kustomize and helm stay quiet too).
SHORT_FILE_LIST = 10



def _version(value: bool) -> None:
    if value:
        from moltgen.cli.version import version_lines  # probes two binaries: only when asked

        print("\n".join(version_lines()))
        raise typer.Exit()


@app.callback()
def _global_options(
    context: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version, and those of the engines and schemas it uses, and exit.")] = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    spec: Annotated[Path | None, typer.Option(
        "--spec", "-f", help="The spec of every command that reads one (default: moltgen.yaml "
                             "here, else in the nearest folder above, up to the git root).")] = None,
) -> None:
    """Compile a Moltbot (OpenClaw) spec into a Kustomize GitOps tree, encrypt its Secrets
    with SOPS, and lint what Argo CD or Flux will apply."""
    Verbosity.level = Verbosity.of(quiet, verbose)
    Progress.quiet = Verbosity.level < 0
    spec = spec or _spec_above(Path.cwd())
    if spec is not None:  # the default of each command's own -f, which still wins
        context.default_map = _spec_defaults(context.command, spec)


def _spec_above(start: Path) -> Path | None:
    """moltgen.yaml of the nearest folder above `start` (git's way: from a subfolder the
    project is still found), up to the repository root; None when `start` has its own."""
    if (start / "moltgen.yaml").exists() or (start / ".git").exists():
        return None
    for folder in start.parents:
        if (folder / "moltgen.yaml").is_file():
            return Path(os.path.relpath(folder / "moltgen.yaml", start))
        if (folder / ".git").exists():
            return None
    return None


def _spec_defaults(group: Any, spec: Path) -> dict[str, Any]:
    """click's default_map giving every command with a `spec` parameter this spec."""
    found: dict[str, Any] = {}
    for name, command in getattr(group, "commands", {}).items():
        defaults = _spec_defaults(command, spec)
        if any(param.name == "spec" for param in command.params):
            defaults["spec"] = spec
        if defaults:
            found[name] = defaults
    return found


@app.command()
def render(
    spec: SpecOption = Path("moltgen.yaml"),
    check: Annotated[bool, typer.Option(
        "--check", help="Write nothing; print a diff and exit 1 if the tree is not up to date.")] = False,
    discard_secrets: Annotated[bool, typer.Option(
        "--discard-values", help="Allow removing encrypted Secrets that still hold set values "
                                  "(an environment or instance left the spec).")] = False,
    lock_timeout: Annotated[float | None, typer.Option(
        "--lock-timeout", min=0, help="Wait this many seconds for another moltgen writing the "
                                      "project to finish (0: fail at once; default: "
                                      "$MOLTGEN_LOCK_TIMEOUT, else 10).")] = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Render base/ and overlays/<env>/ from the spec (only files that change are written)."""
    from moltgen import pipeline
    from moltgen.project import load_project

    level = Verbosity.of(quiet, verbose)
    project = load_project(spec)
    with Progress(enabled=level >= 0) as progress:
        result = pipeline.render(project, check=check, progress=progress, lock_timeout=lock_timeout,
                                 discard_secrets=discard_secrets)
    for warning in result.warnings:
        print(safe(f"moltgen: warning: {warning}"), file=sys.stderr)
    if check:
        if result.drift:
            sys.stdout.write(safe(result.changes.unified_diff()))
            for line in result.pending:
                print(safe(f"pending: {line}"))
            say(f"moltgen: the tree is out of date with {spec} ({result.changes.summary()}); "
                "run `moltgen render`", err=True)
            raise typer.Exit(1)
        if level >= 0:
            say(f"{spec}: the tree is up to date")
        return
    if level < 0:
        return
    changes = result.changes
    if level > 0 or len(changes.added) + len(changes.changed) + len(changes.removed) <= SHORT_FILE_LIST:
        for path in sorted(changes.added):
            say(f"  added    {path}")
        for path in sorted(changes.changed):
            say(f"  changed  {path}")
        for path in sorted(changes.removed):
            say(f"  removed  {path}")
    environments = ", ".join(project.environments) or "none"
    say(f"rendered {spec}: base and {len(project.environments)} environment(s) ({environments}); "
        f"{result.changes.summary()}")


@app.command()
def build(
    env: Annotated[str, typer.Argument(help="The environment to build.")],
    instance: Annotated[str | None, typer.Option(help="Only this instance of a fleet.")] = None,
    spec: SpecOption = Path("moltgen.yaml"),
    allow_remote: AllowRemoteOption = False,
    timeout: TimeoutOption = 300,
    without_sops: Annotated[bool, typer.Option(
        "--without-sops", help="Print encrypted Secrets without their sops envelope and with "
                               "empty values: for strict schema validators (kubeconform -strict).")] = False,
) -> None:
    """Print the kustomize build of overlays/ENV, or overlays/ENV/INSTANCE with --instance (run `moltgen render` first).

    In a fleet, an environment's build is its instances' builds one after the other."""
    from moltgen.kustomize import batch
    from moltgen.kustomize import engine as kustomize
    from moltgen.project import load_project
    from moltgen.tree import recover

    project = load_project(spec)
    recover(project.root)  # a killed render's tree is completed before it is read
    directories = [project.root / d for d in project.build_dirs(env, instance)]
    with Progress() as progress, progress.step("kustomize build", len(directories)) as step:
        built = batch.build_all(directories, step.advance, allow_remote=allow_remote,
                                    deadline=kustomize.Deadline(timeout))
    if without_sops:
        from moltgen.secrets.envelope import without_sops as strip

        built = "---\n".join(strip(batch.split_documents(built)))
    sys.stdout.write(built)


@app.command()
def diff(
    left: Annotated[str | None, typer.Argument(help="Environment (ENV or ENV/INSTANCE) to compare from.")] = None,
    right: Annotated[str | None, typer.Argument(help="Environment (ENV or ENV/INSTANCE) to compare to.")] = None,
    base: Annotated[str | None, typer.Option(
        "--base", metavar="REF", help="Compare the working tree with this git revision (default "
                                     "when no ENV is given: the merge base with the default branch).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="With --base: text, json or markdown.")] = "text",
    output_dir: Annotated[Path | None, typer.Option(
        "--output-dir", help="With --base: write the report there, Markdown as part-1.md, "
                             "part-2.md ... (each one pull-request comment).")] = None,
    exit_code: Annotated[bool, typer.Option(
        "--exit-code", help="With --base: exit 1 when the built objects differ (as git diff).")] = False,
    policy: Annotated[Path | None, typer.Option(
        "--policy", help="With --base: the policy file whose base version judges both sides "
                         "(default: policies/policy.yaml beside the spec).")] = None,
    no_decrypt: Annotated[bool, typer.Option(
        "--no-decrypt", help="Between two environments or instances: do not compare encrypted "
                             "values, even when a private key is available.")] = False,
    spec: SpecOption = Path("moltgen.yaml"),
    allow_remote: AllowRemoteOption = False,
    timeout: TimeoutOption = 300,
) -> None:
    """Show how two built overlays differ, object by object (Secret values masked); exit 1 if they differ.

    With --base (or no ENV): what the working tree changes against a git revision, per
    environment and instance, and the findings it introduces and resolves."""
    if left is None or base is not None:
        if left is not None:
            raise MoltgenError(Problem("give ENV ENV or --base REF, not both", field="--base"))
        from moltgen.review.report import diff_base

        raise typer.Exit(diff_base(spec, base, fmt, output_dir, exit_code, policy,
                                   allow_remote=allow_remote, timeout=timeout))
    if right is None:
        raise MoltgenError(Problem("give two environments (ENV or ENV/INSTANCE) to compare",
                                   field="RIGHT"))
    for name, given in (("--format", fmt != "text"), ("--output-dir", output_dir),
                        ("--exit-code", exit_code), ("--policy", policy)):
        if given:
            raise MoltgenError(Problem("goes with --base REF", field=name))
    from moltgen.core.yamlio.parse import load_documents
    from moltgen.kustomize import batch
    from moltgen.kustomize import engine as kustomize
    from moltgen.project import load_project
    from moltgen.review.diff import semantic_diff
    from moltgen.tree import recover

    project = load_project(spec)
    recover(project.root)
    built = []
    deadline = kustomize.Deadline(timeout)
    instances, directories = [], []
    for label in (left, right):
        env, _, instance = label.partition("/")
        instances.append(instance or None)
        directory = project.build_dir(env, instance or None)
        directories.append([project.root / d for d in project.build_dirs(env, instance or None)])
        text = batch.build_all(directories[-1], allow_remote=allow_remote, deadline=deadline)
        built.append([d.data for d in load_documents(text, f"{directory} (built)")])
    fingerprints = _value_fingerprints(directories, no_decrypt)
    lines = semantic_diff(built[0], built[1], left, right, left_instance=instances[0],
                          right_instance=instances[1], fingerprints=fingerprints)
    if not lines:
        say(f"{left} and {right} build the same objects")
        return
    say("\n".join(lines))
    raise typer.Exit(1)  # as diff and kubectl diff do: 1 when there are differences


def _value_fingerprints(directories: list[list[Path]], no_decrypt: bool) -> tuple[dict, dict]:
    """Digests of both sides' decrypted Secret values when a private key is available (said on
    stderr, with the key's source); else none, and stderr says the values were not compared."""
    from moltgen.secrets.fingerprints import fingerprints, key_source, secret_files
    from moltgen.secrets.sops import SopsError

    files = [secret_files(side) for side in directories]
    if not any(files):
        return {}, {}
    source = None if no_decrypt else key_source()
    if source is not None:
        try:
            found = fingerprints(files[0]), fingerprints(files[1])
        except SopsError as error:
            say(f"moltgen: encrypted Secret values not compared: {error.problems[0]}", err=True)
            return {}, {}
        say(f"moltgen: encrypted Secret values compared in memory, decrypted with the key from {source}",
            err=True)
        return found
    why = "--no-decrypt" if no_decrypt else "no private key (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or keys.txt)"
    say(f"moltgen: encrypted Secret values not compared: {why}", err=True)
    return {}, {}


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """Print the JSON Schema of moltgen.yaml (for editors: yaml-language-server)."""
    from moltgen.core.files import write_atomic
    from moltgen.spec.schema import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if output:
        write_atomic(output, text.encode())
    else:
        sys.stdout.write(text)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create moltgen.yaml.")] = Path("."),
    name: Annotated[str | None, typer.Option(help="Name of the assistant (a DNS label; default: openclaw, or the adopted one).")] = None,
    namespace: Annotated[str | None, typer.Option(help="Namespace (a DNS label; default: openclaw, or the adopted one).")] = None,
    from_path: Annotated[Path | None, typer.Option(
        "--from", help="Adopt an existing deployment: the KubeSphere extension's Helm values, "
                       "or a file or folder of its manifests.")] = None,
    age_recipient: Annotated[list[str], typer.Option(
        "--age-recipient", help="age public key the Secrets are encrypted to (repeatable); needed to adopt Secret values.")] = [],  # noqa: B006 (never mutated)
    env: Annotated[str, typer.Option("--env", help="The environment an adopted deployment becomes.")] = "prod",
) -> None:
    """Write a starter moltgen.yaml (and its JSON Schema) that renders and builds, or with --from the spec of an existing deployment."""
    from moltgen.core.files import write_atomic
    from moltgen.project.starter import YAMLLINT_CONFIG, YAMLLINT_FILE, starter_spec
    from moltgen.secrets.age import is_recipient
    from moltgen.spec.schema import SCHEMA_FILE, json_schema
    from moltgen.spec.types import check_dns_label
    from moltgen.tree import LOCK_FILE

    spec_path = directory / "moltgen.yaml"
    if spec_path.exists():
        raise MoltgenError(Problem("already exists; init does not overwrite a spec",
                                   Location(str(spec_path))))
    for option, value in (("--name", name), ("--namespace", namespace), ("--env", env)):
        try:
            check_dns_label(value or "openclaw")
        except ValueError as error:
            raise MoltgenError(Problem(str(error), field=option)) from None
    adoption = None
    if from_path is not None:
        from moltgen.project.adopt import adopt, adopted_spec

        adoption = adopt(from_path)
        text = adopted_spec(adoption, spec_path, name=name, namespace=namespace, env=env,
                            recipients=list(age_recipient), source=str(from_path))
    else:
        for recipient in age_recipient:
            if not is_recipient(recipient):
                raise MoltgenError(Problem("is not an age recipient (age1 followed by 58 "
                                           "characters)", field="--age-recipient"))
        text = starter_spec(name or "openclaw", namespace or "openclaw", list(age_recipient))
    write_atomic(spec_path, text.encode())
    write_atomic(directory / SCHEMA_FILE,
                 (json.dumps(json_schema(), indent=2, sort_keys=True) + "\n").encode())
    _ignore_in_git(directory / ".gitignore", LOCK_FILE)
    if not (directory / YAMLLINT_FILE).exists():  # a project's own yamllint config is kept
        write_atomic(directory / YAMLLINT_FILE, YAMLLINT_CONFIG.encode())
    if adoption is not None:
        _finish_adoption(spec_path, adoption, env)
        return
    # The next step as the user would type it from where they are: in the new project's folder.
    here = directory.resolve() == Path.cwd().resolve()
    step = "moltgen render" if here else f"cd {shlex.quote(str(directory))} && moltgen render"
    then = "" if age_recipient else (", then `moltgen secrets keygen` and put the printed age1... "
                                     "key under sops.ageRecipients")
    say(f"wrote {spec_path} and {directory / SCHEMA_FILE}; next: `{step}`{then}")


def _finish_adoption(spec_path: Path, adoption: Any, env: str) -> None:
    """Render the adopted spec and put the imported Secret values into the encrypted Secret
    (through sops's stdin: never in the spec, never on disk in plaintext); report what was
    not mapped."""
    from moltgen import pipeline
    from moltgen.project import load_project
    from moltgen.secrets.store import set_secret

    project = load_project(spec_path)
    for warning in pipeline.render(project).warnings:
        print(safe(f"moltgen: warning: {warning}"), file=sys.stderr)
    for key, value in adoption.secrets.items():  # each written with the tree, as `secrets set`
        pipeline.render(project, edit=partial(set_secret, project, env, key, value))
    for line in adoption.unmapped:
        print(safe(f"moltgen: not mapped: {line}"), file=sys.stderr)
    imported = f"; {len(adoption.secrets)} Secret value(s) encrypted into overlays/{env}" \
        if adoption.secrets else ""
    print(f"wrote {spec_path} and rendered it{imported}; {len(adoption.unmapped)} item(s) not "
          "mapped (listed above); review the spec, then `moltgen check`")


def _ignore_in_git(gitignore: Path, entry: str) -> None:
    """Add `entry` to .gitignore unless it is there: render leaves its lock file behind."""
    from moltgen.core.files import write_atomic

    try:
        current = gitignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = ""
    except OSError as exc:
        raise MoltgenError(Problem(f"cannot read: {exc.strerror}", Location(str(gitignore)))) from None
    if entry in current.splitlines():
        return
    separator = "" if not current or current.endswith("\n") else "\n"
    write_atomic(gitignore, f"{current}{separator}{entry}\n".encode())


def main() -> None:
    # One short-lived run that loads everything up front and keeps it to the end: the cycle
    # collector would rescan the loaded manifests again and again as they grow (a third of
    # the time of a 10,000-object check), while almost nothing here forms a reference cycle.
    gc.disable()
    # SIGTERM (a CI runner cancelling, `timeout`) unwinds like Ctrl-C: sops children are
    # killed, scratch folders and the staging area removed, the lock released.
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        app()  # standalone: typer reports usage errors itself (exit 2) and exits
    except MoltgenError as error:
        for problem in error.problems:
            print(safe(f"moltgen: {problem}"), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("moltgen: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # `moltgen check | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except MemoryError:  # past the cap rules run under (moltgen.check.limits), or the machine's
        print("moltgen: out of memory", file=sys.stderr)
        sys.exit(2)
    except OSError as error:  # a read-only folder, a full disk, a permission: file and errno text
        print(safe(f"moltgen: {os_problem(error)}"), file=sys.stderr)
        sys.exit(2)
    except Exception as error:  # the last line of defence against tracebacks
        if os.environ.get("MOLTGEN_DEBUG"):
            raise
        # The type only, not str(error): an unexpected message could carry a secret value.
        print(f"moltgen: internal error ({type(error).__name__}); rerun with MOLTGEN_DEBUG=1 "
              "for details", file=sys.stderr)
        sys.exit(2)


def _interrupted(signum: int, frame: object) -> None:
    signal.signal(signum, signal.SIG_IGN)  # a second SIGTERM does not cut the cleanup short
    raise KeyboardInterrupt
