"""Every kind of bad spec: exit 2, one located line per problem, nothing written."""

import time

import pytest
from support import run_moltgen, snapshot

VALID = """\
name: assistant
namespace: team-a
resources:
  limits:
    memory: 2Gi
environments:
  prod:
    namespace: team-a-prod
"""

CASES = {
    "syntax error": (
        "name: assistant\nnamespace: [team-a\n",
        "moltgen.yaml:3:1: YAML syntax error:"),
    "tab": (
        "name: assistant\nresources:\n\tlimits: {}\n",
        "moltgen.yaml:3:1: YAML syntax error: tab character where indentation is expected"),
    "duplicate key": (
        "name: assistant\nnamespace: a\nname: other\n",
        "moltgen.yaml:3:1: duplicate key 'name'"),
    "unknown key with suggestion": (
        VALID + "    resources:\n      limits:\n        memroy: 1Gi\n",
        "moltgen.yaml:11:9: environments.prod.resources.limits.memroy: unknown field 'memroy' "
        "(did you mean 'memory'?)"),
    "unknown top-level key": (
        VALID.replace("namespace: team-a\n", "namespace: team-a\ningres: {}\n", 1),
        "moltgen.yaml:3:1: ingres: unknown field 'ingres' (did you mean 'ingress'?)"),
    "wrong type": (
        VALID + "gateway:\n  port: eighteen\n",
        "moltgen.yaml:10:9: gateway.port: expected an integer, got 'eighteen'"),
    "string is not a boolean": (
        VALID + "persistence:\n  enabled: 'true'\n",
        "moltgen.yaml:10:12: persistence.enabled: expected true or false, got 'true'"),
    "bad quantity in an environment": (
        VALID + "    resources:\n      limits:\n        memory: 2 gigs\n",
        "moltgen.yaml:11:17: environments.prod.resources.limits.memory: "
        "'2 gigs' is not a Kubernetes quantity"),
    "port out of range": (
        VALID + "gateway:\n  port: 70000\n",
        "moltgen.yaml:10:9: gateway.port: 70000 is out of range"),
    "name not a DNS label": (
        VALID.replace("name: assistant", "name: My_Bot"),
        "moltgen.yaml:1:7: name: 'My_Bot' is not a DNS-1123 label"),
    "environment name with a path": (
        VALID + "  ../x:\n    namespace: x\n",
        "moltgen.yaml:9:3: environments.../x: '../x' is not a DNS-1123 label"),
    "empty file": (
        "", "moltgen.yaml:1:1: the spec is empty"),
    "comments only": (
        "# nothing here\n", "moltgen.yaml:1:1: the spec is empty"),
    "not a mapping": (
        "- name: assistant\n", "moltgen.yaml:1:1: the spec must be a mapping of keys to values, not a list"),
    "missing required field": (
        "name: assistant\n", "moltgen.yaml:1:1: namespace: required field is missing"),
    "requests above limits": (
        VALID + "    resources:\n      requests:\n        memory: 4Gi\n",
        "environments.prod.resources: requests.memory 4Gi is more than limits.memory 2Gi"),
    "enabled ingress without host": (
        VALID + "ingress:\n  enabled: true\n",
        "moltgen.yaml:10:3: ingress: an enabled ingress needs a host"),
    "name differs per environment": (
        VALID + "    name: other\n",
        "moltgen.yaml:9:11: environments.prod.name: cannot differ per environment"),
    "duplicate instance": (
        VALID + "instances:\n  - name: alice\n  - name: alice\n",
        "moltgen.yaml:11:11: instances.1.name: duplicate instance 'alice'"),
    "instance namespace override": (
        VALID + "instances:\n  - name: alice\n    overrides:\n      namespace: x\n",
        "moltgen.yaml:12:7: instances.0.overrides.namespace: cannot be overridden"),
    "bad value in instance overrides": (
        VALID + "instances:\n  - name: alice\n    overrides:\n      gateway: {port: 0}\n",
        "moltgen.yaml:12:23: instances.0.overrides.gateway.port: 0 is out of range"),
    "owner with a line break": (
        VALID + 'instances:\n  - name: alice\n    owner: "alice\\nbob"\n',
        "moltgen.yaml:11:12: instances.0.owner: holds a control character"),
    "empty owner": (
        VALID + 'instances:\n  - name: alice\n    owner: " "\n',
        "moltgen.yaml:11:12: instances.0.owner: is empty"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_spec_exits_2_with_a_located_message_and_writes_nothing(case, project_dir):
    text, expected = CASES[case]
    root = project_dir(text)
    before = snapshot(root)
    result = run_moltgen("render", cwd=root)
    assert result.code == 2
    assert expected in result.stderr, result.stderr
    assert all(line.startswith("moltgen: ") for line in result.stderr.splitlines())
    assert snapshot(root) == before


def test_every_problem_is_reported_not_only_the_first(project_dir):
    root = project_dir(VALID + "gateway:\n  port: 0\n  bind: everywhere\nreplicas: 2\n")
    result = run_moltgen("render", cwd=root)
    assert result.code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 3
    assert "gateway.port: 0 is out of range" in lines[0]
    assert "gateway.bind: 'everywhere' is not one of 'lan', 'loopback'" in lines[1]
    assert "replicas: unknown field 'replicas'" in lines[2]


def test_alias_bomb_in_the_spec_is_refused_quickly(project_dir):
    bomb = ["name: assistant", "namespace: a", "config:", "  a: &a [x, x, x, x, x, x, x, x, x]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        bomb.append(f"  {name}: &{name} [{', '.join(['*' + previous] * 9)}]")
    root = project_dir("\n".join(bomb) + "\n")
    started = time.perf_counter()
    result = run_moltgen("render", cwd=root)
    assert result.code == 2
    assert "alias bomb" in result.stderr
    assert time.perf_counter() - started < 10  # process start included; expansion would hang


def test_missing_spec_file_is_a_clear_error(tmp_path):
    result = run_moltgen("render", "--spec", "nope.yaml", cwd=tmp_path)
    assert result.code == 2
    assert result.stderr.strip() == "moltgen: nope.yaml: no such file"


def test_unknown_environment_for_build(project_dir):
    result = run_moltgen("build", "staging", cwd=project_dir())
    assert result.code == 2
    assert "no environment 'staging' in the spec (environments: dev, prod)" in result.stderr


# -- found by tests/test_fuzz.py (in process: the loader's own errors) ---------------------------

def load_errors(project_dir, text: str) -> list[str]:
    from moltgen.core.errors import MoltgenError
    from moltgen.project import load_project

    root = project_dir(text)
    with pytest.raises(MoltgenError) as caught:
        load_project(root / "moltgen.yaml")
    return [str(p).removeprefix(f"{root}/") for p in caught.value.problems]


def test_an_instance_override_of_the_wrong_type_is_an_error_not_a_crash(project_dir):
    # `ingress: [1]` in an instance's overrides, with an ingress host set, raised TypeError
    # while giving the instance its own host; `ingress: 5` raised TypeError on `"host" in 5`.
    spec = VALID + "ingress: {host: a.example.com}\ninstances:\n  - name: alice\n    overrides:\n"
    for value, shown in (("[1]", "a list"), ("5", "5")):
        errors = load_errors(project_dir, spec + f"      ingress: {value}\n")
        assert errors == [f"moltgen.yaml:13:16: instances.0.overrides.ingress: expected a "
                          f"mapping, got {shown}"]


def test_a_long_value_is_cut_short_in_its_message(project_dir):
    errors = load_errors(project_dir, VALID.replace("name: assistant", "name: " + "x" * 5000))
    assert errors == ["moltgen.yaml:1:7: name: '" + "x" * 60 + "...' is not a DNS-1123 label "
                      "(lowercase letters, digits and '-', starting and ending with a letter or "
                      "digit, at most 63 characters)"]


def test_a_key_with_a_line_break_is_escaped_in_the_field(project_dir):
    errors = load_errors(project_dir, VALID + '"a\\nb": 1\n')
    assert errors == ["moltgen.yaml:9:1: a\\nb: unknown field 'a\\nb'"]


def test_a_long_value_with_quotes_is_cut_short_too(project_dir):
    errors = load_errors(project_dir, VALID.replace("name: assistant", "name: \":'" + "1" * 5000 + " a\""))
    assert errors == ["moltgen.yaml:1:7: name: \":'" + "1" * 58 + "...\" is not a DNS-1123 label "
                      "(lowercase letters, digits and '-', starting and ending with a letter or "
                      "digit, at most 63 characters)"]


def test_an_owner_shared_by_twelve_instances_is_refused_once(project_dir):
    # One anchor, twelve instances: the value is written once, so it is reported once.
    instances = "".join(f"  - name: team-{i}\n    owner: *owner\n" for i in range(12))
    root = project_dir(VALID.replace("environments:", 'x: &owner "ops\\tteam"\nenvironments:')
                       + "instances:\n" + instances)
    result = run_moltgen("render", cwd=root)
    assert result.code == 2
    owner_lines = [line for line in result.stderr.splitlines() if ".owner:" in line]
    assert owner_lines == ["moltgen: moltgen.yaml:6:4: instances.0.owner: holds a control "
                           "character (a line break or escape) (the same value in 12 instances)"]


def test_an_email_owner_is_accepted(project_dir):
    root = project_dir(VALID + "instances:\n  - name: alice\n    owner: Alice.Smith@example.com\n"
                       "  - name: bob\n    owner: Platform Team (EMEA)\n")
    result = run_moltgen("render", cwd=root)
    assert result.code == 0, result.stderr
