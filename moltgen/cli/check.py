"""`moltgen check`, `moltgen rules`, `moltgen policy export|test`. Thin: parse options, call the
check modules, write the output, choose the exit code (0 clean, 1 findings, 2 via MoltgenError)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from moltgen.cli.conventions import Verbosity
from moltgen.core.errors import MoltgenError, Problem, did_you_mean
from moltgen.core.files import write_output
from moltgen.core.terminal import say

policy_app = typer.Typer(help="Export the rule catalog or run its tests.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the check commands to the top-level app."""
    app.command("check")(check)
    app.command("rules")(rules)
    app.add_typer(policy_app, name="policy")


def check(
    targets: list[str] = typer.Argument(None, help="Overlay directories, YAML files, directories, or - for stdin. None: every overlay of the spec."),
    env: list[str] = typer.Option([], "--env", help="Only these environments (repeatable); for files, the environment rules apply to."),
    fmt: str = typer.Option("text", "--format", help="text, json, sarif, github, junit or markdown."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report to FILE (atomically)."),
    fail_on: str = typer.Option("error", "--fail-on", help="Exit 1 on findings of this severity or worse: error or warning."),
    kubernetes_version: str | None = typer.Option(None, "--kubernetes-version", help="Validate against this Kubernetes version (default: newest bundled)."),
    schema_dir: list[Path] = typer.Option([], "--schema-dir", help="Extra schemas, kubeconform layout {group}/{kind}_{version}.json (repeatable)."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy file (default: policies/policy.yaml beside the spec, when present)."),
    base_policy: str | None = typer.Option(None, "--base-policy", metavar="REF", help="Read the policy (and its custom rules) from this git revision, e.g. the pull request's target branch, not from the working tree."),
    spec: Path | None = typer.Option(None, "--spec", "-f", help="The spec, when no target is given (default: moltgen.yaml)."),
    no_strict: bool = typer.Option(False, "--no-strict", help="Allow unknown fields."),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Let kustomize fetch remote bases, git repositories and OpenAPI URLs (default: the repository only, no network)."),
    timeout: float = typer.Option(300, "--timeout", min=1, metavar="SECONDS", help="Time budget of the whole check: every kustomize build and every rule."),
    changed_since: str | None = typer.Option(None, "--changed-since", metavar="REF", help="Check only the overlays whose inputs (files their kustomize build reads, bases included) differ from git revision REF; everything when the policy changed."),
    new_only: bool = typer.Option(False, "--new-only", help="Report (and fail on) only the findings the working tree introduces against --base REF, both judged under REF's policy."),
    base: str | None = typer.Option(None, "--base", metavar="REF", help="With --new-only: the git revision to compare with (default: the merge base with the default branch)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Text report: only the findings that fail the check, and the summary."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Text report: each waived finding in full (by default one line counts them), every instance named."),
    show_waived: bool = typer.Option(False, "--show-waived", help="List the waived findings: in full in the text report (as -v), as rows in markdown, as notices in github."),
    shard: str | None = typer.Option(None, "--shard", metavar="K/N", help="Check only the K-th of N slices of the project's overlays (by path, round-robin); --format json writes what --merge joins."),
    merge: bool = typer.Option(False, "--merge", help="Join the JSON reports of every --shard K/N (the TARGETs) into the report of the whole check, in any --format."),
) -> None:
    """Validate manifests against their schemas and the rule catalog."""
    from moltgen.check.model import Severity
    from moltgen.check.report import FORMATS, render_chunks
    from moltgen.check.run import CheckOptions, run_check
    from moltgen.core.progress import Progress

    if fmt not in FORMATS:
        raise MoltgenError(Problem(f"unknown format {fmt!r} (use {', '.join(FORMATS)})", field="--format"))
    if fail_on not in ("error", "warning"):
        raise MoltgenError(Problem("must be error or warning", field="--fail-on"))
    if quiet and show_waived:
        raise MoltgenError(Problem("lists what --quiet leaves out: give one of them", field="--show-waived"))
    detail = Verbosity.of(quiet, verbose or show_waived)
    if merge:
        _merged(targets, fmt, output, Severity(fail_on), detail, spec, policy, base_policy,
                [name for name, given in (("--shard", shard), ("--env", env), ("--new-only", new_only),
                                          ("--changed-since", changed_since)) if given])
        return
    sliced = None
    if shard is not None:
        from moltgen.check.shard import Shard

        sliced = Shard.parse(shard)
        if new_only or base is not None:
            raise MoltgenError(Problem("checks the project against --base: give no --shard with it",
                                       field="--new-only"))
    if new_only or base is not None:
        result, catalog = _new_findings(new_only, base, targets, env, spec, policy, base_policy,
                                        changed_since, allow_remote, timeout)
        write_output(render_chunks(result, fmt, catalog, fail_on=Severity(fail_on), detail=detail), output)
        if result.failed(Severity(fail_on)):
            raise typer.Exit(1)
        return
    options = CheckOptions(list(targets or []), list(env), spec, policy, kubernetes_version,
                           tuple(schema_dir), strict=not no_strict, allow_remote=allow_remote,
                           timeout=timeout, changed_since=changed_since, base_policy=base_policy,
                           shard=sliced)
    with Progress() as progress:
        result, catalog = run_check(options, progress=progress)
    if sliced is not None and fmt == "json":
        from moltgen.check.report import shard as shard_report

        write_output(shard_report.render(result, sliced), output)
        if result.failed(Severity(fail_on)):
            raise typer.Exit(1)
        return
    color = fmt == "text" and output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    write_output(render_chunks(result, fmt, catalog, color=color, fail_on=Severity(fail_on),
                               detail=detail), output)
    if result.failed(Severity(fail_on)):
        raise typer.Exit(1)


def _merged(reports: list[str] | None, fmt: str, output: Path | None, fail_on: Any, detail: int,
            spec: Path | None, policy: Path | None, base_policy: str | None, clashing: list[str]) -> None:
    """`check --merge A.json B.json ...`: the shards' reports as the whole check's; the policy
    is read as the check reads it, for the catalog SARIF lists."""
    from moltgen.check.report import render_chunks
    from moltgen.check.report.shard import merge
    from moltgen.check.run import CheckOptions, policy_and_catalog

    if clashing:
        raise MoltgenError(Problem(f"joins reports already written: give no {clashing[0]} with it",
                                   field="--merge"))
    if not reports:
        raise MoltgenError(Problem("give the JSON report of every shard", field="--merge"))
    result = merge([Path(report) for report in reports])
    _, catalog = policy_and_catalog(CheckOptions([], [], spec, policy, base_policy=base_policy))
    color = fmt == "text" and output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    write_output(render_chunks(result, fmt, catalog, color=color, fail_on=fail_on, detail=detail), output)
    if result.failed(fail_on):
        raise typer.Exit(1)


def _new_findings(new_only: bool, base: str | None, targets: list[str] | None, env: list[str],
                  spec: Path | None, policy: Path | None, base_policy: str | None,
                  changed_since: str | None, allow_remote: bool, timeout: float):
    """`check --new-only --base REF`: the findings the working tree introduces (moltgen.review.base)."""
    from moltgen.check.model import CheckResult
    from moltgen.core.progress import Progress
    from moltgen.review.base import review

    if not new_only:
        raise MoltgenError(Problem("goes with --new-only", field="--base"))
    clashing = [name for name, given in (("TARGET", targets), ("--env", env), ("--base-policy", base_policy),
                                         ("--changed-since", changed_since)) if given]
    if clashing:
        raise MoltgenError(Problem(f"checks the project against --base: give no {clashing[0]} with it",
                                   field="--new-only"))
    with Progress() as progress:
        found = review(spec or Path("moltgen.yaml"), base, policy=policy, allow_remote=allow_remote,
                       timeout=timeout, objects=False, progress=progress)
    return CheckResult(found.objects_checked, list(found.introduced)), found.catalog


def rules(
    markdown: bool = typer.Option(False, "--markdown", help="Print docs/rules.md."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy file whose custom rules to include."),
) -> None:
    """List the rule catalog (built-in and custom rules)."""
    from moltgen.check.catalog import load_catalog
    from moltgen.check.config import load_policy
    from moltgen.check.docs import rules_markdown

    config = load_policy(policy)
    catalog = load_catalog(config.custom_rule_dirs)
    if markdown:
        write_output(rules_markdown(catalog), None)
        return
    lines = []
    for rule in catalog.sorted():
        settings = config.rules.get(rule.id)
        severity = settings.severity.value if settings and settings.severity else rule.severity.value
        enabled = rule.enabled if settings is None or settings.enabled is None else settings.enabled
        flag = "" if enabled else "  (disabled)"
        origin = "  (custom)" if rule.custom else ""
        lines.append(f"{rule.id:<32} {severity:<8} {rule.summary}{flag}{origin}")
    write_output("\n".join(lines) + "\n", None)


@policy_app.command("export")
def policy_export(
    fmt: str = typer.Option("vap", "--format", help="vap: ValidatingAdmissionPolicy + binding per rule."),
    env: str = typer.Option("", "--env", help="Environment the exported policies stand for (rules matched to environments)."),
    scope: str = typer.Option("moltgen", "--scope", metavar="SCOPE", help="What the bindings match: moltgen (the objects moltgen renders, in the spec's namespaces), namespaces (everything in them) or cluster (all but the system and GitOps namespaces)."),
    kubernetes_version: str | None = typer.Option(None, "--kubernetes-version", help="Check the exported objects against this Kubernetes version's schemas (1.30 or later)."),
    spec: Path | None = typer.Option(None, "--spec", "-f", help="The spec whose namespaces the bindings match (default: moltgen.yaml when present)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE (atomically) instead of stdout."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy file whose custom rules to export (default: policies/policy.yaml beside the spec, when present)."),
) -> None:
    """Export single-object rules as admission policies; rules across objects are listed as not exportable."""
    from moltgen.check.catalog import load_catalog
    from moltgen.check.config import load_policy
    from moltgen.check.vap import SCOPES, export_configured
    from moltgen.core.yamlio.dump import dump_yaml_all

    if fmt != "vap":
        raise MoltgenError(Problem(f"unknown export format {fmt!r} (use vap)", field="--format"))
    if scope not in SCOPES:
        raise MoltgenError(Problem(f"unknown scope {scope!r} (use {', '.join(SCOPES)})", field="--scope"))
    config = load_policy(policy, root=spec.parent if spec is not None else Path())
    catalog = load_catalog(config.custom_rule_dirs)
    documents, skipped = export_configured(catalog, config, env=env, scope=scope,
                                           spec=spec, kubernetes_version=kubernetes_version)
    write_output(dump_yaml_all(documents), output)
    for item in skipped:
        say(f"moltgen: not exported: {item.rule}: {item.reason}", err=True)


@policy_app.command("test")
def policy_test(
    rule: list[str] = typer.Option([], "--rule", help="Only these rules (repeatable)."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy file whose custom rules to test (default: policies/policy.yaml when present)."),
) -> None:
    """Run every rule's pass and fail tests, custom rules included."""
    from moltgen.check.catalog import load_catalog
    from moltgen.check.config import load_policy
    from moltgen.check.fixtures import run_rule_tests

    catalog = load_catalog(load_policy(policy).custom_rule_dirs)
    for rule_id in rule:
        if rule_id not in catalog.rules:
            raise MoltgenError(Problem(f"no rule {rule_id!r}{did_you_mean(rule_id, list(catalog.rules))}",
                                       field="--rule"))
    outcomes = run_rule_tests(catalog, list(rule) or None)
    failed = [o for o in outcomes if not o.passed]
    for outcome in failed:
        say(f"FAIL {outcome.rule}: {outcome.test}: {outcome.detail} ({outcome.location})")
    say(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)
