"""Text from a pull request reaches a terminal or a CI log shown, never acted on (issue 20, item 6).

ESC/CSI/OSC sequences and bidi controls are shown as escapes, and no line of output can begin
a GitHub Actions workflow command (`::` after leading whitespace)."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from support import run_moltgen

from moltgen.check.catalog import load_catalog
from moltgen.check.model import CheckResult, Finding, ObjectRef, Severity
from moltgen.check.report import github, markdown, text
from moltgen.core.errors import Location
from moltgen.core.terminal import safe

RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
COMMAND = re.compile(r"^[ \t]*::", re.MULTILINE)
HOSTILE = "\x1b]0;owned\x07\x1b[2J\u202eevil\n ::add-mask::x\n::error file=a::forged"


def _clean(output: str) -> None:
    assert not RAW.search(output), repr(output)
    assert not COMMAND.search(output), repr(output)


@given(st.text())
def test_safe_leaves_no_raw_control_and_no_workflow_command(value: str) -> None:
    _clean(safe(value))
    _clean(safe(value, one_line=True))
    assert "\n" not in safe(value, one_line=True)


def test_safe_shows_what_it_escaped() -> None:
    assert safe(HOSTILE) == ("\\x1b]0;owned\\x07\\x1b[2J\\u202eevil\n \\x3a:add-mask::x\n"
                             "\\x3a:error file=a::forged")
    assert safe("plain\ttext\n") == "plain\ttext\n"


def _result() -> CheckResult:
    ref = ObjectRef("v1", "ConfigMap", "bots", "cm\x1b[31m")
    return CheckResult(1, [Finding("some-rule", Severity.ERROR, HOSTILE, ref,
                                   location=Location("kube/\u202ecm.yaml", 3))])


def test_text_report_escapes() -> None:
    output = text.render(_result(), load_catalog())
    _clean(output)
    assert "\\x1b]0;owned" in output and "\\u202e" in output


def test_markdown_report_escapes() -> None:
    output = markdown.render(_result(), load_catalog())
    _clean(output)
    assert "\\x1b" in output


def test_github_report_one_command_a_finding() -> None:
    output = github.render(_result(), load_catalog())
    assert not RAW.search(output), repr(output)
    lines = output.splitlines()
    assert lines[0].startswith("::error file=kube/\\u202ecm.yaml,line=3,")  # our command only
    assert [line for line in lines if COMMAND.match(line)] == [lines[0]]
    assert "\\x1b]0;owned" in lines[0]


SPEC = """\
name: bot
namespace: bots
extraResources:
  - kube/cm.yaml
environments:
  dev: {}
"""
# A block scalar is copied line for line into base/: its lines reach the diff as they are.
CONFIGMAP = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: banner}\ndata:\n  motd: |\n"
             "    hello \u202eevil\n    ::error file=x::forged\n    ::add-mask::x\n")


def test_render_check_diff_is_shown_not_acted_on(tmp_path: Path) -> None:
    (tmp_path / "moltgen.yaml").write_text(SPEC)
    (tmp_path / "kube").mkdir()
    configmap = tmp_path / "kube" / "cm.yaml"
    configmap.write_text(CONFIGMAP)
    assert run_moltgen("render", cwd=tmp_path).code == 0
    configmap.write_text(CONFIGMAP.replace("hello", "hello again"))
    result = run_moltgen("render", "--check", cwd=tmp_path)
    assert result.code == 1, result.stderr
    assert "again" in result.stdout
    _clean(result.stdout)
    _clean(result.stderr)
    assert "\\u202eevil" in result.stdout
    assert "     \\x3a:error file=x::forged" in result.stdout


def _patch(overlay: Path, text: str) -> None:
    """Add a patch to a rendered overlay (one without patches of its own)."""
    (overlay / "patch.yaml").write_text(text)
    kustomization = overlay / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "patches:\n- path: patch.yaml\n")


def test_kustomize_error_with_escape_is_shown(tmp_path: Path) -> None:
    (tmp_path / "moltgen.yaml").write_text("name: bot\nnamespace: bots\nenvironments:\n  dev: {}\n")
    assert run_moltgen("render", cwd=tmp_path).code == 0
    # A patch for an object that is not there: kustomize names it, escapes and all.
    _patch(tmp_path / "overlays" / "dev",
           'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "x\\e]0;owned\\a\\e[2J\\u202e"}\n'
           'data: {a: b}\n')
    result = run_moltgen("check", cwd=tmp_path)
    assert result.code == 2, (result.stdout, result.stderr)
    _clean(result.stdout)
    _clean(result.stderr)
    assert "\\x1b" in result.stderr


def test_diff_of_two_environments_is_shown_not_acted_on(tmp_path: Path) -> None:
    """`moltgen diff` prints values from both trees: a hostile one is escaped."""
    (tmp_path / "moltgen.yaml").write_text(SPEC.replace("  dev: {}\n", "  dev: {}\n  prod: {}\n"))
    (tmp_path / "kube").mkdir()
    (tmp_path / "kube" / "cm.yaml").write_text(CONFIGMAP)
    assert run_moltgen("render", cwd=tmp_path).code == 0
    _patch(tmp_path / "overlays" / "prod",
           "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: banner}\ndata:\n"
           "  motd: \"\\e]0;owned\\a \\u202eevil\\n::error file=x::forged\\n::add-mask::y\\n\"\n")
    result = run_moltgen("diff", "dev", "prod", cwd=tmp_path)
    assert result.code == 1, (result.stdout, result.stderr)
    assert "banner" in result.stdout
    _clean(result.stdout)
    _clean(result.stderr)
    assert "\\x1b]0;owned" in result.stdout


def test_policy_test_lines_are_shown_not_acted_on(tmp_path: Path) -> None:
    """A custom rule's failing test prints the rule's own words, which the repository wrote."""
    rules = tmp_path / "policies" / "rules"
    rules.mkdir(parents=True)
    (tmp_path / "policies" / "policy.yaml").write_text("customRules: [rules]\n")
    (rules / "banner.yaml").write_text(
        "id: banner\nseverity: error\nsummary: s\ndescription: d\n"
        "expression: \"has(object.data)\"\nmessage: m\ntests:\n"
        "  - name: \"\\e[2J\\n::add-mask::x\"\n    expect: fail\n"
        "    object: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {a: b}}\n")
    result = run_moltgen("policy", "test", "--rule", "banner", cwd=tmp_path)
    _clean(result.stdout)
    _clean(result.stderr)
    assert result.code != 0 and "\\x1b[2J" in result.stdout + result.stderr, (result.stdout, result.stderr)
