"""The nine attacks of issue 20, each as a fork's pull request would make it, through the exact
moltgen steps the shipped pull-request workflow runs, on a fresh clone.

Each attack is committed to a project (its own kustomization in `extraResources`, which
moltgen includes as is), the project is cloned, and every moltgen step of
.github/workflows/moltgen-pull-request.yml runs in the clone as written, each one whatever the
one before it did (stricter than the workflow, which skips the SARIF step after a failed
`render --check`). Every step must fail safely: exit 2 with one located line where the
attack is refused, nothing outside the repository moved, read into any output or fetched (a
listener on 127.0.0.1 counts connections, and the outside folder is compared before and after),
and nothing printed raw (no control character, no line that a runner would take as a workflow
command).

What this cannot emulate: the GitHub runner itself. Its rule for workflow commands (a line
that starts with `::` after leading whitespace) is applied to every line of output here.
The base policy is read from the commit before the attack, as `origin/<base>` would be.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support import Listener, run_moltgen, snapshot
from test_workflows import load, moltgen_steps

from moltgen.secrets.age import keygen

OUTSIDE_MARK = "outside-the-repository-marker-never-printed"
LOCATED = re.compile(r"^moltgen: [^\s:]+(?::\d+)+: ")  # moltgen: FILE:LINE[:COL]: message
WORKFLOW_COMMAND = re.compile(r"^\s*::")
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")


def workflow_steps() -> list[list[str]]:
    """moltgen's arguments in each moltgen step of the pull-request workflow."""
    return [shlex.split(run)[1:] for run in moltgen_steps(load(".github/workflows/moltgen-pull-request.yml"))]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A rendered project with its own kustomization under extraResources."""
    root = tmp_path_factory.mktemp("template")
    key = keygen(root.parent / f"{root.name}-key.txt")
    (root / "extra").mkdir()
    (root / "extra" / "kustomization.yaml").write_text("resources:\n- cm.yaml\n")
    (root / "extra" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                            "  name: extra\ndata:\n  a: b\n")
    (root / "moltgen.yaml").write_text(
        "name: assistant\nnamespace: team-a\n"
        f"sops: {{ageRecipients: [{key.recipient}]}}\nextraResources: [extra]\n"
        "environments:\n  dev: {namespace: team-a-dev}\n  prod: {}\n")
    assert run_moltgen("render", cwd=root).code == 0
    return root


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          cwd=cwd, check=True, capture_output=True, text=True, timeout=60).stdout


@pytest.fixture
def pull_request(template, tmp_path):
    """attack(plant) -> the fresh clone of the project with `plant`'s changes committed on
    top of a base commit, and the outside folder an attacker aims at."""
    outside = tmp_path / "outside"
    (outside / "kdir").mkdir(parents=True)
    (outside / "keys.txt").write_text(OUTSIDE_MARK + "\n")
    (outside / "kdir" / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (outside / "kdir" / "cm.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                              f"  name: stolen\ndata:\n  a: {OUTSIDE_MARK}\n")

    def attack(plant: Callable[[Path, Path], None]) -> tuple[Path, dict]:
        origin = tmp_path / "origin"
        shutil.copytree(template, origin)
        _git(origin, "init", "-q")
        _git(origin, "add", "-A")
        _git(origin, "commit", "-qm", "base")
        _git(origin, "branch", "base")
        plant(origin, outside)
        _git(origin, "add", "-A")
        _git(origin, "add", "-f", ".")  # past every .gitignore, as `git add -f` does
        _git(origin, "commit", "-qm", "a pull request")
        clone = tmp_path / "clone"
        _git(tmp_path, "clone", "-q", "--no-local", str(origin), str(clone))
        return clone, snapshot(outside)
    return attack


def run_workflow(clone: Path, listener: Listener) -> list[tuple[list[str], object]]:
    """Every moltgen step of the workflow, as written, in the clone."""
    results = []
    for args in workflow_steps():
        args = [("origin/base" if a == "$MOLTGEN_BASE_POLICY" else a) for a in args]
        results.append((args, run_moltgen(*args, cwd=clone)))
    return results


def assert_safe(results, outside: Path, before: dict, listener: Listener) -> None:
    assert snapshot(outside) == before, "something outside the repository changed"
    assert listener.received == [], "a connection was made"
    for args, result in results:
        output = result.stdout + result.stderr
        assert OUTSIDE_MARK not in output, (args, output[-800:])
        assert not RAW_CONTROL.search(output), (args, repr(output[-800:]))
        forged = [line for line in output.splitlines() if WORKFLOW_COMMAND.match(line)]
        assert not forged, (args, forged)


def assert_refused(results, says: str) -> None:
    """Each step exits 2 with one located line that says `says` (the SARIF step writes no
    findings for a tree it refused)."""
    for args, result in results:
        lines = result.stderr.strip().splitlines()
        assert result.code == 2, (args, result.code, result.stderr[-800:])
        assert len(lines) == 1 and LOCATED.match(lines[0]) and says in lines[0], (args, lines)


@pytest.fixture
def listener():
    found = Listener()
    yield found
    found.stop()


def extra_kustomization(text: str) -> Callable[[Path, Path], None]:
    def plant(root: Path, outside: Path) -> None:
        (root / "extra" / "kustomization.yaml").write_text(text, encoding="utf-8")
    return plant


def test_1_a_journal_in_the_pull_request_is_refused_and_moves_nothing(pull_request, listener):
    def plant(root: Path, outside: Path) -> None:
        staging = root / ".moltgen" / "staging"
        (staging / "files").mkdir(parents=True)
        climbing = "../" * 8 + str(outside / "keys.txt").lstrip("/")
        body = json.dumps({"version": 1, "writes": [[climbing, "base/openclaw.json"]], "removes": []})
        (staging / "journal.json").write_text(json.dumps({"journal": body, "seal": "0" * 64}))
        (staging / ".writer").write_text("0" * 64)
    clone, before = pull_request(plant)
    results = run_workflow(clone, listener)
    assert_safe(results, clone.parent / "outside", before, listener)
    for args, result in results:
        assert result.code == 2 and ".moltgen/staging" in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)


@pytest.mark.parametrize("spelled", ["Resources", "re\u017fources", "RESOURCES"])
def test_2_a_case_or_unicode_folded_field_is_read_as_kustomize_reads_it(pull_request, listener, spelled):
    clone, before = pull_request(extra_kustomization(f"{spelled}:\n- ../../outside/kdir\n"))
    results = run_workflow(clone, listener)
    assert_safe(results, clone.parent / "outside", before, listener)
    for args, result in results[1:]:  # render --check has nothing to say about extra/
        assert result.code == 2, (args, result.stderr)
        assert result.stderr.startswith("moltgen: extra/kustomization.yaml:2"), (args, result.stderr)


def test_2_openapi_folded_to_a_url_is_refused(pull_request, listener):
    clone, before = pull_request(extra_kustomization(
        f"resources: [cm.yaml]\nOpenAPI:\n  path: http://127.0.0.1:{listener.port}/schema.json\n"))
    results = run_workflow(clone, listener)
    assert_safe(results, clone.parent / "outside", before, listener)
    assert_refused(results[1:], "extra/kustomization.yaml:3")


@pytest.mark.parametrize("field", ["patchesStrategicMerge", "generators"])
def test_3_an_entry_holding_colon_space_is_a_url_to_kustomize_and_here(pull_request, listener, field):
    clone, before = pull_request(extra_kustomization(
        f"resources: [cm.yaml]\n{field}:\n- 'http://127.0.0.1:{listener.port}/x#: x'\n"))
    results = run_workflow(clone, listener)
    assert_safe(results, clone.parent / "outside", before, listener)
    assert_refused(results[1:], "a remote address is refused")


def test_4_a_ksops_generator_that_runs_another_program_is_refused(pull_request, listener):
    def plant(root: Path, outside: Path) -> None:
        (root / "extra" / "evil.sh").write_text("#!/bin/sh\ncat /etc/passwd\n")
        (root / "extra" / "ksops.yaml").write_text(
            "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: k\n  annotations:\n"
            "    config.kubernetes.io/function: |\n      exec:\n        path: ./evil.sh\n"
            "files: [s.enc.yaml]\n")
        (root / "extra" / "kustomization.yaml").write_text("resources: [cm.yaml]\ngenerators:\n- ksops.yaml\n")
    clone, before = pull_request(plant)
    results = run_workflow(clone, listener)
    assert_safe(results, clone.parent / "outside", before, listener)
    assert_refused(results[1:], "runs another program")


def test_5_a_keyless_copy_that_would_read_other_files_is_refused(pull_request, listener):
    def plant(root: Path, outside: Path) -> None:
        shutil.copy(root / "overlays" / "dev" / "secret.enc.yaml", root / "extra" / "s.enc.yaml")
        (root / "extra" / "ksops.yaml").write_text(
            "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: k\nfiles: [s.enc.yaml]\n")
        (root / "extra" / "t.yaml").write_text("apiVersion: builtin\nkind: NamespaceTransformer\n"
                                               "metadata:\n  name: n\n  namespace: benign\n")
        (root / "extra" / "kustomization.yaml").write_text(
            "resources: [cm.yaml]\ngenerators:\n- ksops.yaml\ntransformers:\n- ../extra/t.yaml\n")
    clone, before = pull_request(plant)
    results = run_workflow(clone, listener)
    assert_safe(results, clone.parent / "outside", before, listener)
    assert_refused(results[1:], "extra/kustomization.yaml:5")


def test_6_a_foreign_sops_key_group_is_an_error_at_its_line(pull_request, listener, tmp_path):
    secret = "overlays/prod/secret.enc.yaml"

    def plant(root: Path, outside: Path) -> None:
        path = root / secret
        path.write_text(path.read_text().replace("sops:\n", (
            f"sops:\n    hc_vault:\n        - vault_address: http://127.0.0.1:{listener.port}\n"
            "          engine_path: sops\n          key_name: k\n"
            "          created_at: \"2026-01-01T00:00:00Z\"\n          enc: vault:v1:AAAA\n"), 1))
    clone, before = pull_request(plant)
    results = run_workflow(clone, listener)
    assert_safe(results, clone.parent / "outside", before, listener)
    render_check, sarif_step, summary = results
    # render reads the Secret to re-render it and refuses it before sops could run ...
    assert_refused([render_check], f"{secret}:14:11: sops.hc_vault.0")
    # ... and check reports it as an error finding at its line
    assert sarif_step[1].code == 1 and summary[1].code == 1, (sarif_step, summary)
    sarif = json.loads((clone / "moltgen.sarif").read_text())
    foreign = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "secret-foreign-keys"]
    assert foreign and all(r["level"] == "error" for r in foreign)
    where = foreign[0]["locations"][0]["physicalLocation"]
    assert where["artifactLocation"]["uri"] == secret and where["region"]["startLine"] > 1


def test_7_and_8_raw_escapes_and_forged_workflow_commands_are_shown_not_acted_on(pull_request, listener):
    def plant(root: Path, outside: Path) -> None:
        # An inline object of the spec is rendered into a generated file: its lines become
        # the diff's context lines (one leading space) when a line beside them is edited.
        spec = root / "moltgen.yaml"
        spec.write_text(spec.read_text().replace("extraResources: [extra]", (
            "extraResources:\n- extra\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: notes}\n"
            "  data:\n    b: |\n      ::add-mask::everything\n      ::error title=forged::x\n"
            "    c: d\n")))
        assert run_moltgen("render", cwd=root).code == 0
        generated = next(p for p in (root / "base").glob("*.yaml") if "::add-mask::" in p.read_text())
        text = generated.read_text()
        generated.write_text(text.replace("  c: d\n", "  c: \x1b]0;owned\x07\x1b[2J\n", 1))
        (root / "extra" / "kustomization.yaml").write_text("resources:\n- cm.yaml\n- \"\\e[31mmissing.yaml\"\n")
    clone, before = pull_request(plant)
    results = run_workflow(clone, listener)
    assert_safe(results, clone.parent / "outside", before, listener)
    diff = results[0][1]
    # drift, shown: the context lines visible with their first colon escaped, the edit escaped
    assert diff.code == 1 and "     \\x3a:add-mask::everything\n" in diff.stdout, diff.stdout
    assert "-  c: \\x1b]0;owned\\x07\\x1b[2J\n" in diff.stdout, diff.stdout
    assert_refused(results[1:], "extra/kustomization.yaml:3:3: resources[1]")


def test_9_a_600_deep_chain_ends_in_a_located_error_naming_the_limit(pull_request, listener):
    def plant(root: Path, outside: Path) -> None:
        (root / "extra" / "kustomization.yaml").write_text("resources:\n- cm.yaml\n- chain/0\n")
        for depth in range(600):
            folder = root / "extra" / "chain" / str(depth)
            folder.mkdir(parents=True)
            nxt = f"- ../{depth + 1}\n" if depth < 599 else ""
            (folder / "kustomization.yaml").write_text(f"resources:\n{nxt}" if nxt else "resources: []\n")
    clone, before = pull_request(plant)
    results = run_workflow(clone, listener)
    assert_safe(results, clone.parent / "outside", before, listener)
    assert_refused(results[1:], "nested deeper than")
