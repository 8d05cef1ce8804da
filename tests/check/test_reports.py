from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moltgen.check.catalog import load_catalog
from moltgen.check.model import Finding, ObjectRef, Severity
from moltgen.check.report import FORMATS, render
from moltgen.core.errors import Location

from .conftest import check_text

SECRET_VALUE = "sk-ant-supersecret-value"
TEXT = f"""apiVersion: v1
kind: Secret
metadata: {{name: clawdbot, namespace: extension-clawdbot}}
stringData: {{anthropicApiKey: "{SECRET_VALUE}", gatewayToken: ""}}
---
apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations: {{"moltgen.dev/waive.resources-limits": "demo; expires=2099-01-01; owner=me"}}
spec: {{containers: [{{name: c, image: "busybox:latest"}}]}}
"""
CATALOG = load_catalog()


@pytest.fixture(scope="module")
def result():
    return check_text(TEXT, schemas=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_format_ever_prints_a_secret_value(result, fmt):
    assert SECRET_VALUE not in render(result, fmt, CATALOG)


def test_json_contract(result):
    data = json.loads(render(result, "json", CATALOG))
    assert set(data) == {"version", "summary", "findings"} and data["version"] == 1
    assert set(data["summary"]) == {"objects", "errors", "warnings", "info", "waived"}
    # the waiver covers both missing limits, one finding each
    assert data["summary"]["objects"] == 2 and data["summary"]["waived"] == 2
    for finding in data["findings"]:
        assert set(finding) == {"rule", "severity", "message", "object", "file", "line", "origin", "waived"}
        assert set(finding["object"]) == {"apiVersion", "kind", "namespace", "name"}
    empty = next(f for f in data["findings"] if f["rule"] == "secret-empty-value")
    assert (empty["file"], empty["line"]) == ("m.yaml", 4)


def test_the_json_report_is_written_in_pieces_equal_to_the_whole(result):
    """The CLI writes the JSON report as it is encoded (a 100,000-object check has 50,000
    findings); the pieces make exactly the document json.dumps makes, findings made dicts
    one at a time."""
    from moltgen.check.report import render_chunks
    from moltgen.check.report.json_report import as_data

    pieces = render_chunks(result, "json", CATALOG)
    assert not isinstance(pieces, (str, list))  # a generator: nothing encoded ahead
    assert "".join(pieces) == json.dumps(as_data(result), indent=2) + "\n" == \
        render(result, "json", CATALOG)


_TEXT = st.text(st.characters(codec="utf-8"), max_size=8)
_LOCATION = st.none() | st.builds(Location, _TEXT, st.none() | st.integers(-5, 10**9))
_FINDING = st.builds(
    Finding, st.sampled_from(["limits", "tls", 'q"uote\\']), st.sampled_from(list(Severity)), _TEXT,
    st.builds(ObjectRef, _TEXT, _TEXT, _TEXT, _TEXT), location=_LOCATION, origin=_LOCATION,
    waived=st.booleans())


@given(st.lists(_FINDING, max_size=4), st.integers(0, 10**6))
def test_the_json_report_is_exactly_what_json_writes_indented(findings, objects):
    """The JSON report lays findings out by a template; its text must stay byte for byte what
    json.dumps(indent=2) writes, for any text (quotes, controls, non-ASCII) and any absent place."""
    from moltgen.check.model import CheckResult
    from moltgen.check.report.json_report import as_data, chunks

    result = CheckResult(objects, findings)
    assert "".join(chunks(result)) == json.dumps(as_data(result), indent=2) + "\n"


def test_sarif_is_valid_sarif_2_1_0(result):
    document = json.loads(render(result, "sarif", CATALOG))
    pydantic_sarif = pytest.importorskip("pydantic_sarif.model")
    pydantic_sarif.StaticAnalysisResultsFormatSarifVersion210JsonSchema.model_validate(document)
    run = document["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    for item in run["results"]:
        assert rule_ids[item["ruleIndex"]] == item["ruleId"]
        assert item["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1
    assert any("suppressions" in item for item in run["results"])
    assert all(r["help"]["text"] for r in run["tool"]["driver"]["rules"])


def test_github_annotations(result):
    lines = render(result, "github", CATALOG).splitlines()
    assert any(line.startswith("::error file=m.yaml,line=4,") and "title=secret-empty-value" in line
               for line in lines)
    assert not any("waived" in line for line in lines[:-1])  # counted in the summary only
    shown = render(result, "github", CATALOG, detail=1).splitlines()
    assert any(line.startswith("::notice ") and "(waived)" in line for line in shown)


def test_junit_parses_and_counts(result):
    root = ET.fromstring(render(result, "junit", CATALOG))
    suite = root.find("testsuite")
    assert int(suite.get("failures")) >= 3 and int(suite.get("skipped")) == 1


def test_text_groups_by_file_and_colours_only_when_asked(result):
    plain = render(result, "text", CATALOG, detail=1)
    assert plain.startswith("m.yaml\n") and "\x1b[" not in plain
    assert "waived: demo" in plain and "2 objects checked" in plain
    assert "\x1b[31m" in render(result, "text", CATALOG, color=True)


def test_text_detail_levels(result):
    """-v lists every finding; by default waived ones are counted in one line; -q keeps only
    what fails the check. The summary line is the same in all three."""
    full, counted, quiet = (render(result, "text", CATALOG, detail=d) for d in (1, 0, -1))
    summary = full.splitlines()[-1]
    assert counted.splitlines()[-1] == quiet.splitlines()[-1] == summary
    assert "waived: demo" in full and "waived: demo" not in counted
    assert "waived: 2 (resources-limits 2); --show-waived lists them" in counted.splitlines()
    failing = [f for f in result.findings if not f.waived and f.severity == Severity.ERROR]
    warnings = [f for f in result.findings if not f.waived and f.severity == Severity.WARNING]
    assert failing and warnings  # the fixture has both, so each level can be told apart
    assert all(f.message in quiet for f in failing)
    assert not any(f.message in quiet for f in warnings) and "waived" not in quiet.replace(summary, "")
    assert all(f.message in counted for f in warnings)


def test_markdown_table(result):
    text = render(result, "markdown", CATALOG)
    assert "| | Rule | Object | Where | Message |" in text and "`secret-empty-value`" in text
    assert "💤" not in text and "2 waived" in text  # waived findings: counted, not listed
    assert "💤" in render(result, "markdown", CATALOG, detail=1)


def test_junit_is_well_formed_xml_when_a_name_holds_a_control_character():
    # Found by tests/test_fuzz.py: YAML's "\x1f" escape puts a control character in a name,
    # which XML 1.0 cannot hold even as a character reference; the report did not parse.
    text = 'apiVersion: v1\nkind: Pod\nmetadata: {name: "p\\x1fq"}\nspec: {containers: [{name: c, image: "busybox:latest"}]}\n'
    report = render(check_text(text), "junit", CATALOG)
    names = {case.get("name") for case in ET.fromstring(report).iter("testcase")}
    assert names == {"Pod p\\x1fq"}


HOSTILE_NAME = '<img src=x onerror=alert(1)>\x1b]8;;https://evil.example\x07[link](javascript:x)\n::error::forged %0A'
HOSTILE = f"""apiVersion: v1
kind: Pod
metadata: {{name: {json.dumps(HOSTILE_NAME)}, namespace: n}}
spec: {{containers: [{{name: {json.dumps(HOSTILE_NAME)}, image: "busybox:latest"}}]}}
"""


@pytest.fixture(scope="module")
def hostile():
    return check_text(HOSTILE, schemas=True)


def test_text_output_shows_control_characters_instead_of_sending_them(hostile):
    text = render(hostile, "text", CATALOG)
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b]8;;https://evil.example\\x07" in text
    assert all(not line.startswith("::error::forged") for line in text.splitlines())


def test_markdown_output_escapes_html_and_links_from_manifests(hostile):
    text = render(hostile, "markdown", CATALOG)
    assert "<img" not in text and "&lt;img src=x onerror=alert\\(1\\)&gt;" in text
    assert "[link](javascript" not in text and "\\[link\\]\\(javascript:x\\)" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == len(hostile.findings) + 1  # one row per finding: no line break got in


def test_github_output_cannot_forge_a_workflow_command(hostile):
    text = render(hostile, "github", CATALOG)
    lines = text.splitlines()
    assert len(lines) == len(hostile.findings) + 1
    assert not any(line.startswith("::error::forged") for line in lines)
    # the newline and the % are escaped, and the forged command's colon shown visibly
    assert "%0A\\x3a:error::forged %250A" in text


def test_github_has_one_notice_per_waiver_not_per_waived_finding():
    """A fleet repeats one waiver per instance: with --show-waived the annotations say it
    once, with the count, and by default not at all."""
    from moltgen.check.model import CheckResult

    def waived(namespace: str, waiver: str) -> Finding:
        return Finding("image-digest", Severity.WARNING, "not pinned", ObjectRef("apps/v1", "Deployment", namespace, "bot"),
                       location=Location("base/deployment.yaml", 42), waived=True, waiver=waiver)

    findings = [waived(f"team-{i}", "mirror pins digests [policy.yaml:3]") for i in range(24)]
    findings.append(waived("other", "another reason [policy.yaml:9]"))
    assert not any(line.startswith("::") for line in
                   render(CheckResult(25, findings), "github", CATALOG).splitlines())
    lines = render(CheckResult(25, findings), "github", CATALOG, detail=1).splitlines()
    notices = [line for line in lines if line.startswith("::")]
    assert notices == [
        "::notice title=image-digest (waived)::1 finding waived: another reason [policy.yaml:9]",
        "::notice title=image-digest (waived)::24 findings waived: mirror pins digests [policy.yaml:3]"]


def test_sarif_meets_code_scanning_limits_and_fields():
    """GitHub keeps 25,000 results a run: past that, errors and failing findings are kept and
    the run says how many were left out. Security rules carry security-severity, every rule a
    helpUri, and a policy-file waiver is an external suppression, an annotation an inSource one."""
    from moltgen.check.model import CheckResult
    from moltgen.check.report import sarif

    def finding(i: int, severity: Severity, waiver: str | None = None) -> Finding:
        return Finding("image-digest", severity, "m", ObjectRef("v1", "Pod", "ns", f"p{i}"),
                       location=Location("a.yaml", i + 1), waived=waiver is not None, waiver=waiver)

    errors = [finding(i, Severity.ERROR) for i in range(3)]
    waived = [finding(3, Severity.WARNING, "r [policies/policy.yaml:3]"),
              finding(4, Severity.WARNING, "r [annotation moltgen.dev/waive.image-digest]")]
    many = [finding(5 + i, Severity.WARNING) for i in range(sarif.MAX_RESULTS)]
    run = json.loads(render(CheckResult(1, errors + waived + many), "sarif", CATALOG))["runs"][0]
    assert len(run["results"]) == sarif.MAX_RESULTS
    assert sum(r["level"] == "error" for r in run["results"]) == 3
    assert not any("suppressions" in r for r in run["results"])  # the waived ones went first
    [summary] = [r for r in run["results"] if r["ruleId"] == sarif.LEFT_OUT]
    assert summary["message"]["text"].startswith(f"6 of {sarif.MAX_RESULTS + 5} results left out")
    assert run["tool"]["driver"]["rules"][summary["ruleIndex"]]["id"] == sarif.LEFT_OUT

    small = json.loads(render(CheckResult(1, errors + waived), "sarif", CATALOG))["runs"][0]
    assert not any(r["ruleId"] == sarif.LEFT_OUT for r in small["results"])
    kinds = [r["suppressions"][0]["kind"] for r in small["results"] if "suppressions" in r]
    assert sorted(kinds) == ["external", "inSource"]
    rules = {rule["id"]: rule for rule in small["tool"]["driver"]["rules"]}
    assert all(rule["helpUri"].endswith(f"docs/rules.md#{rule['id']}") for rule in rules.values()
               if rule["id"] in CATALOG.rules)
    security = [r for r in CATALOG.sorted() if r.security]
    assert security and all(rules[r.id]["properties"]["security-severity"] in ("8.0", "5.0", "2.0")
                            and "security" in rules[r.id]["properties"]["tags"] for r in security)
    assert not any("security-severity" in rules[r.id]["properties"] for r in CATALOG.sorted()
                   if not r.security)


def _fleet_result(findings_per_instance, instances=("ml", "web", "data")):
    """A result of a fleet's check: for each of prod's instances, the findings that
    `findings_per_instance(name, namespace)` makes, and the instances by namespace."""
    from moltgen.check.model import CheckResult, InstanceOverlay

    result = CheckResult(len(instances))
    for name in instances:
        namespace = f"bots-{name}"
        result.instances[namespace] = InstanceOverlay(f"prod/{name}", name, f"overlays/prod/{name}")
        result.findings.extend(findings_per_instance(name, namespace))
    return result


def test_text_says_a_finding_shared_by_a_fleets_instances_once_with_their_count():
    def findings(name, namespace):
        deployment = ObjectRef("apps/v1", "Deployment", namespace, "bot")
        return [
            Finding("image-digest", Severity.WARNING, "image not pinned", deployment,
                    location=Location("base/deployment.yaml", 44, 9), origin=Location("moltgen.yaml", 3)),
            # the same once the namespace and the overlay directory are taken out
            Finding("secret-exists", Severity.ERROR, f"Secret bot is not defined in namespace {namespace}",
                    deployment, location=Location(f"overlays/prod/{name}/kustomization.yaml", 17, 3)),
            # differs per instance: never merged
            Finding("resources-limits", Severity.ERROR, f"limit {len(name)}Gi", deployment,
                    location=Location("base/deployment.yaml", 50, 9)),
        ]
    result = _fleet_result(findings)
    text = render(result, "text", CATALOG, detail=0)
    lines = text.splitlines()
    assert sum("image not pinned" in line for line in lines) == 1
    assert sum("is not defined in namespace" in line for line in lines) == 1
    assert sum(line.strip() == "in 3 instances: prod/ml, prod/web, prod/data" for line in lines) == 2
    assert sum("limit 2Gi" in line for line in lines) == 1 and sum("limit 3Gi" in line for line in lines) == 1
    assert sum("limit 4Gi" in line for line in lines) == 1  # "data" and "ml" differ: their own lines
    assert lines[-1] == "3 objects checked: 6 errors, 3 warnings, 0 waived"  # the summary counts all
    # machine formats stay one entry per finding
    assert len(json.loads(render(result, "json", CATALOG))["findings"]) == 9


def test_text_names_three_instances_and_v_names_every_one():
    teams = tuple(f"team-{i}" for i in range(12))

    def findings(name, namespace):
        return [Finding("image-digest", Severity.WARNING, "image not pinned",
                        ObjectRef("apps/v1", "Deployment", namespace, "bot"),
                        location=Location("base/deployment.yaml", 44, 9))]
    result = _fleet_result(findings, teams)
    short = [line.strip() for line in render(result, "text", CATALOG, detail=0).splitlines()]
    assert "in 12 instances: prod/team-0, prod/team-1, prod/team-2, …" in short
    full = [line.strip() for line in render(result, "text", CATALOG, detail=1).splitlines()]
    assert "in 12 instances: " + ", ".join(f"prod/{t}" for t in teams) in full


def test_an_instance_name_inside_a_word_is_not_taken_for_the_instance():
    # Instance "a" says "a data value" and "b" says "b data value": the same once each
    # instance's own name is taken out, as long as "data" keeps its a's. "c" says what "b"
    # says, which names another instance: its own line.
    def findings(name, namespace):
        return [Finding("r", Severity.WARNING, f"{'b' if name == 'c' else name} data value",
                        ObjectRef("v1", "Pod", namespace, "p"), location=Location("base/pod.yaml", 1))]
    lines = [line.strip() for line in
             render(_fleet_result(findings, ("a", "b", "c")), "text", CATALOG, detail=0).splitlines()]
    assert "in 2 instances: prod/a, prod/b" in lines
    assert sum(" data value  r  " in line for line in lines) == 2
