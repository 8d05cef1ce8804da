"""The command line follows kubectl, helm and kustomize: -h, --version, -f everywhere a spec is
read, metavars a person reads, every usage error on one line with exit 2 (never repeating what
was typed), -q and -v, diff exiting 1 on differences."""

import re

import pytest
import typer
from support import MINIMAL_SPEC, run_moltgen
from test_cli_help import PATHS
from typer.testing import CliRunner

from moltgen.cli import app


def help_of(path):
    result = CliRunner().invoke(app, [*path, "-h"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "moltgen")
def test_help_shows_metavars_not_python_types_and_every_option_explains_itself(path):
    text = help_of(path)
    assert not re.search(r"<(str|bool|int|float|path|list\[[^\]]*\])>", text, re.IGNORECASE), text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage, usage
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    for param in command.params:
        assert param.help, f"{' '.join(path)}: {param.name} has no help text"


def test_the_metavars_say_what_to_give():
    check = help_of(("check",))
    assert re.search(r"--spec\s+-f\s+FILE", check) and re.search(r"--format\s+FORMAT", check)
    assert re.search(r"--env\s+ENV", check) and re.search(r"--schema-dir\s+DIR", check)
    assert "Usage: moltgen build [OPTIONS] ENV" in help_of(("build",))
    assert "Usage: moltgen secrets set [OPTIONS] ENV KEY" in help_of(("secrets", "set"))
    access = help_of(("access",))
    assert "Usage: moltgen access [OPTIONS] ENV" in access
    assert re.search(r"--instance\s+NAME", access) and re.search(r"--format\s+FORMAT", access)


@pytest.mark.parametrize("command", [("render",), ("build", "dev"), ("diff", "dev", "prod"),
                                     ("check",), ("secrets", "updatekeys"),
                                     ("access", "dev")])
def test_every_command_that_reads_the_spec_takes_f(command, tmp_path):
    result = run_moltgen(*command, "-f", "elsewhere/spec.yaml", cwd=tmp_path)
    assert result.code == 2 and "moltgen: elsewhere/spec.yaml: no" in result.stderr, result.stderr


def test_version_and_h():
    result = run_moltgen("--version")
    assert result.code == 0 and re.fullmatch(r"moltgen \d+\.\d+\.\d+\S*", result.stdout.splitlines()[0])
    assert run_moltgen("-h").stdout == run_moltgen("--help").stdout


@pytest.mark.parametrize("args, message", [
    (("rendr",), "moltgen: no such command (did you mean render?); see 'moltgen --help'"),
    (("check", "--formt", "json"), "moltgen: check: no such option (did you mean --format?); see 'moltgen check --help'"),
    (("nosuch",), "moltgen: no such command (commands: check, rules, access, render, build, diff, schema, init, secrets, policy); see 'moltgen --help'"),
    (("schema", "--outptu", "x"), "moltgen: schema: no such option (did you mean --output?); see 'moltgen schema --help'"),
    (("build",), "moltgen: build: missing argument ENV; see 'moltgen build --help'"),
    (("render", "--lock-timeout", "sk-ant-secret"), "moltgen: render: invalid value for --lock-timeout; see 'moltgen render --help'"),
    (("diff", "dev", "prod", "sk-ant-secret"), "moltgen: diff: unexpected extra argument; see 'moltgen diff --help'"),
    (("render", "--sk-ant-secret=1"), "moltgen: render: no such option; see 'moltgen render --help'"),
    (("secrets", "set"), "moltgen: secrets set: missing argument ENV; see 'moltgen secrets set --help'"),
    (("access",), "moltgen: access: missing argument ENV; see 'moltgen access --help'"),
    (("access", "dev", "--instanse", "x"), "moltgen: access: no such option (did you mean --instance?); see 'moltgen access --help'"),
    (("access", "dev", "sk-ant-secret"), "moltgen: access: unexpected extra argument; see 'moltgen access --help'"),
])
def test_a_usage_error_is_one_line_exit_2_and_never_repeats_a_value(args, message, tmp_path):
    result = run_moltgen(*args, cwd=tmp_path)
    assert result.code == 2
    assert result.stderr == message + "\n"
    assert "sk-ant-secret" not in result.stderr + result.stdout


def test_no_arguments_prints_help_and_exits_0():
    result = run_moltgen()
    assert result.code == 0 and "Usage: moltgen" in result.stdout


def many_environments(count):
    return "name: bot\nnamespace: bots\nenvironments:\n" + "".join(
        f"  env{i}: {{namespace: bots-{i}}}\n" for i in range(count))


def test_render_lists_files_when_few_and_summarises_when_many(tmp_path):
    (tmp_path / "moltgen.yaml").write_text(many_environments(8))
    result = run_moltgen("render", cwd=tmp_path)
    assert result.code == 0
    assert result.stdout.splitlines() == [  # 17 files (.moltgen/manifest and the pull-request workflow too): a summary only
        "rendered moltgen.yaml: base and 8 environment(s) (env0, env1, env2, env3, env4, env5, "
        "env6, env7); 17 added, 0 changed, 0 removed"]
    (tmp_path / "moltgen.yaml").write_text(many_environments(9))
    short = run_moltgen("render", cwd=tmp_path)
    assert short.stdout.splitlines()[0] == "  added    overlays/env8/kustomization.yaml"
    (tmp_path / "moltgen.yaml").write_text(many_environments(8).replace("bots-", "team-"))
    verbose = run_moltgen("render", "-v", cwd=tmp_path)
    lines = verbose.stdout.splitlines()
    assert len(lines) == 8 + 1 + 1 + 1 and lines[0] == "  changed  .moltgen/manifest"
    assert lines[1] == "  changed  overlays/env0/kustomization.yaml"
    assert lines[-2] == "  removed  overlays/env8/kustomization.yaml"


def test_quiet_prints_nothing_but_warnings(tmp_path):
    (tmp_path / "moltgen.yaml").write_text(MINIMAL_SPEC)
    for args in (("render", "-q"), ("-q", "render"), ("render", "--check", "--quiet")):
        result = run_moltgen(*args, cwd=tmp_path)
        assert result.code == 0 and result.stdout == "", args
        assert all(line.startswith("moltgen: warning: ") for line in result.stderr.splitlines())
    both = run_moltgen("render", "-q", "-v", cwd=tmp_path)
    assert both.code == 2 and both.stderr == "moltgen: --quiet: give --quiet or --verbose, not both\n"


def test_diff_exits_1_on_differences_and_0_when_the_same(tmp_path):
    (tmp_path / "moltgen.yaml").write_text(
        "name: bot\nnamespace: bots\nenvironments:\n  dev: {namespace: bots-dev}\n  prod: {}\n"
        "  copy: {}\n")
    assert run_moltgen("render", cwd=tmp_path).code == 0
    differ = run_moltgen("diff", "dev", "prod", cwd=tmp_path)
    assert differ.code == 1 and "metadata.namespace: 'bots-dev' -> 'bots'" in differ.stdout
    same = run_moltgen("diff", "prod", "prod", cwd=tmp_path)
    assert same.code == 0 and same.stdout == "prod and prod build the same objects\n"


def test_quiet_before_any_command_silences_its_progress(tmp_path):
    from test_progress import config_maps
    (tmp_path / "many.yaml").write_text(config_maps(50))
    shown = {"CI": "true", "MOLTGEN_PROGRESS_AFTER": "0"}
    assert "checking objects" in run_moltgen("check", "many.yaml", cwd=tmp_path, env=shown).stderr
    quiet = run_moltgen("-q", "check", "many.yaml", cwd=tmp_path, env=shown)
    assert quiet.code == 0 and quiet.stderr == ""


def test_the_spec_is_found_from_a_subfolder_and_named_before_the_verb(tmp_path):
    """kubectl and git habits: `moltgen -f SPEC VERB` as `moltgen VERB -f SPEC`, and from a
    subfolder of the project the spec above is used, up to the repository root only."""
    project = tmp_path / "repo" / "project"
    project.mkdir(parents=True)
    (tmp_path / "repo" / ".git").mkdir()
    (project / "moltgen.yaml").write_text(MINIMAL_SPEC)
    assert run_moltgen("-f", "project/moltgen.yaml", "render", cwd=tmp_path / "repo").code == 0
    assert run_moltgen("render", "--check", "-f", "project/moltgen.yaml", cwd=tmp_path / "repo").code == 0
    below = run_moltgen("render", "--check", cwd=project / "base")
    assert below.code == 0 and below.stdout == "../moltgen.yaml: the tree is up to date\n"
    assert run_moltgen("build", "dev", cwd=project / "overlays" / "dev").code == 0
    # not past the repository root, and not when a spec is named
    (tmp_path / "moltgen.yaml").write_text(MINIMAL_SPEC)
    outside = run_moltgen("render", "--check", cwd=tmp_path / "repo")
    assert outside.code == 2 and "moltgen.yaml" in outside.stderr
    named = run_moltgen("-f", "nowhere.yaml", "render", "--check", cwd=project / "base")
    assert named.code == 2 and "nowhere.yaml" in named.stderr
