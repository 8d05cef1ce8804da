"""Fuzzing the edges where moltgen reads untrusted input: YAML text, the spec, manifests to check.

Whatever the input, the contract is the same: it loads, or a `MoltgenError` says where (file,
line, and the field when there is one) on one line per problem; never another exception, never
a traceback, and hostile inputs (alias bombs, huge files, deep nesting) are refused quickly.

The hypothesis profile is derandomized so CI runs are reproducible: a failure seen once is seen
again on the next run, with the same shrunk example. For a deeper, randomized hunt, run
    MOLTGEN_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/test_fuzz.py -k "not command"
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support import MINIMAL_SPEC, REPO, run_moltgen

from moltgen.check.report import FORMATS
from moltgen.check.report import render as render_report
from moltgen.check.run import CheckOptions, run_check
from moltgen.core.errors import MoltgenError, Problem
from moltgen.core.yamlio.loader import MAX_BYTES
from moltgen.core.yamlio.parse import load_documents, load_file
from moltgen.project import load_project
from moltgen.render import render_tree

_DEEP = int(os.environ.get("MOLTGEN_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_DEEP or 200, deadline=None, derandomize=not _DEEP, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
FEW = settings(FUZZ, max_examples=3, derandomize=True)  # each example starts a process

POLICY = REPO / "policies" / "policy.yaml"

# -- strategies ----------------------------------------------------------------------------------

# Fragments that make YAML's scanner, parser, composer and our builder take unusual paths.
YAML_TOKENS = [
    ": ", "- ", "? ", "[", "]", "{", "}", ", ", ",", "&a ", "*a", "&b ", "*b", "!!int ",
    "!!float ", "!!bool ", "!!str ", "!!null ", "!!binary ", "!!timestamp ", "!!map ", "!!seq ",
    "!!set ", "!!omap ", "!local ", "!<tag:x> ", "|", "|-", ">+", "'", '"', "\\", "\t", "\n",
    "\r\n", "  ", "    ", "#", " # c", "---\n", "...\n", "%YAML 1.1\n", "%YAML 2.0\n",
    "%TAG !e! tag:e.com,2000:\n", "<<: ", "<<: *a", "~", "null", "true", "yes", "on", ".nan",
    "-.inf", "0x1F", "0o17", "1_000", "1:30:00", "2026-01-31", "2001-12-14t21:59:43.10-05:00",
    "1" * 5000, "0x" + "f" * 5000, "0b" + "1" * 15000, "9" * 400 + ".5e9999", "é", "日本",
    "\U0001F600", "\x00", "\x07", "\x85", "\u2028", "\ufeff", "\ufffe", "\x7f",
]
yaml_text = st.lists(st.one_of(st.sampled_from(YAML_TOKENS), st.text(max_size=8)),
                     max_size=40).map("".join)

key_names = st.one_of(
    st.sampled_from(["name", "namespace", "image", "tag", "gateway", "port", "environments",
                     "instances", "overrides", "resources", "limits", "memory", "kind",
                     "apiVersion", "metadata", "spec", "containers", "<<", "", " ", "?", "-"]),
    st.text(max_size=10))
odd_keys = st.one_of(key_names, st.integers(-10, 10), st.booleans(), st.none(),
                     st.floats(allow_nan=False, width=16))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
    st.sampled_from(["", "~", "yes", "no", "0x10", "1e3", "2Gi", "2 gigs", "-1", "*", "&", "!",
                     "250m", "1.5", "latest", "http://x", "/healthz", "age1", "10.0.0.0/8",
                     "ENC[AES256_GCM,data:eA==,iv:eA==,tag:eA==,type:str]", "a" * 300]))
junk = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(odd_keys, children, max_size=4)),
    max_leaves=12)


@st.composite
def edited(draw: Any, base: st.SearchStrategy[str]) -> str:
    """`base` text with characters inserted, deleted and replaced at random places."""
    text = draw(base)
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.one_of(st.sampled_from(YAML_TOKENS), st.characters(codec="utf-8")))
        if op == "insert":
            text = text[:at] + piece + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)):]
        else:
            text = text[:at] + piece + text[at + len(piece):]
    return text


dumped_junk = junk.map(lambda data: yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
dumped_flow = junk.map(lambda data: yaml.safe_dump(data, default_flow_style=True, width=40))
any_yaml = st.one_of(yaml_text, edited(dumped_junk), edited(dumped_flow),
                     st.text(max_size=200),
                     # stdin is decoded with surrogateescape: invalid UTF-8 arrives as surrogates
                     st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape")))


# -- assertions ----------------------------------------------------------------------------------

def assert_located(error: MoltgenError, file: str, text: str | None) -> list[Problem]:
    """Every problem names `file` and, when the input is text, a line inside it; one line each."""
    assert error.problems, "a MoltgenError without a problem"
    lines = len(text.splitlines()) + 2 if text is not None else None  # YAML breaks at \r too
    for problem in error.problems:
        shown = str(problem)
        assert "\n" not in shown and "\r" not in shown, f"not one line: {shown!r}"
        assert len(shown) < 2000, f"a {len(shown)}-character message: {shown[:200]!r}"
        assert problem.location is not None, shown
        assert problem.location.file == file, shown
        if lines is not None:
            assert problem.location.line is not None, shown
            assert 1 <= problem.location.line <= lines, (shown, lines)
            assert problem.location.column is None or problem.location.column >= 1, shown
    return error.problems


def walk(data: Any, path: tuple = ()) -> list[tuple]:
    """Every path into data (bounded)."""
    found = [path]
    if isinstance(data, dict):
        for key, value in list(data.items())[:10]:
            found.extend(walk(value, path + (key,)))
    elif isinstance(data, list):
        for index, value in enumerate(data[:10]):
            found.extend(walk(value, path + (index,)))
    return found[:60]


# -- 1. random YAML text -------------------------------------------------------------------------

@FUZZ
@given(any_yaml)
@example("a: " + "1" * 5000)  # more digits than Python converts to int
@example("a: !!int xyz\nb: !!float xyz\nc: !!bool xyz\n")
@example("!!int")  # PyYAML's int constructor indexes the empty text
@example("a: \x00\n")  # libyaml's reader error has a position, not a line
@example("a: \ud800\n")  # a surrogate from stdin's surrogateescape
@example("? [a]\n: 1\n")
@example("a: &a [*a]\n")
def test_random_yaml_text_loads_or_is_a_located_error(text):
    try:
        documents = load_documents(text, "fuzz.yaml")
    except MoltgenError as error:
        assert_located(error, "fuzz.yaml", text)
        return
    for document in documents:
        # Locations come from composing a document again from its span: for every value of
        # every document that loaded, that must work and give a line inside the text.
        for path in walk(document.data):
            for key in (False, True):
                location = document.locate(path, key=key)
                assert location.file == "fuzz.yaml"
                assert 1 <= location.line <= len(text.splitlines()) + 2


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(st.one_of(any_yaml.map(lambda t: t.encode("utf-8", "surrogateescape")), st.binary(max_size=300),
                 st.binary(max_size=40).map(lambda b: MINIMAL_SPEC.encode() + b)))
def test_random_spec_files_load_or_give_located_errors(scratch, content):
    path = scratch / "moltgen.yaml"
    path.write_bytes(content)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        text = None  # a file that is not UTF-8 is refused as a whole
    try:
        project = load_project(path)
    except MoltgenError as error:
        assert_located(error, str(path), text)
        return
    assert project.base.name and project.base.namespace


# -- 2. mutations of a valid spec ----------------------------------------------------------------

REALISTIC = yaml.safe_load((REPO / "moltgen.yaml").read_text())
REALISTIC["instances"] = [{"name": "alice", "owner": "alice"},
                          {"name": "bob", "overrides": {"resources": {"limits": {"memory": "4Gi"}}}}]
REALISTIC["gitops"] = {"engine": "flux", "repoUrl": "https://example.com/repo.git", "path": "deploy"}
REALISTIC["config"] = {"agent": {"model": "anthropic/claude"}, "logging": {"level": "info"}}
SPECS = [yaml.safe_load(MINIMAL_SPEC), REALISTIC]


def _typo(word: str, draw: Any) -> str:
    if not word:
        return "x"
    at = draw(st.integers(0, len(word) - 1))
    kind = draw(st.sampled_from(["drop", "double", "swap", "case", "append"]))
    if kind == "drop":
        return word[:at] + word[at + 1:] or "x"
    if kind == "double":
        return word[:at] + word[at] + word[at:]
    if kind == "swap" and at + 1 < len(word):
        return word[:at] + word[at + 1] + word[at] + word[at + 2:]
    if kind == "case":
        return word[:at] + word[at].swapcase() + word[at + 1:]
    return word + "s"


def _containers(data: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every mapping and list below the root (the places a mutation can happen)."""
    found = []
    if isinstance(data, dict):
        found.append(path)
        for key, value in data.items():
            found.extend(_containers(value, path + (key,)))
    elif isinstance(data, list):
        found.append(path)
        for index, value in enumerate(data):
            found.extend(_containers(value, path + (index,)))
    return found


def _get(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated_specs(draw: Any) -> dict:
    spec = copy.deepcopy(draw(st.sampled_from(SPECS)))
    for _ in range(draw(st.integers(1, 4))):
        holder = _get(spec, draw(st.sampled_from(_containers(spec))))
        if isinstance(holder, list):
            if not holder:
                holder.append(draw(junk))
                continue
            index = draw(st.integers(0, len(holder) - 1))
            if draw(st.booleans()):
                holder[index] = draw(junk)
            else:
                del holder[index]
            continue
        op = draw(st.sampled_from(["wrong type", "delete", "unknown key", "typo", "nest junk",
                                   "null"]))
        keys = list(holder)
        if op == "unknown key" or not keys:
            holder[draw(odd_keys)] = draw(junk)
            continue
        key = draw(st.sampled_from(keys))
        if op == "wrong type":
            holder[key] = draw(junk)
        elif op == "delete":
            del holder[key]
        elif op == "typo" and isinstance(key, str):
            holder[_typo(key, draw)] = holder.pop(key)
        elif op == "nest junk":
            holder[key] = {draw(key_names): {draw(key_names): draw(junk)}}
        else:
            holder[key] = None
    return spec


@FUZZ
@given(mutated_specs(), st.booleans())
def test_mutated_specs_load_or_name_file_line_and_field(scratch, spec, flow):
    path = scratch / "moltgen.yaml"
    text = yaml.safe_dump(spec, allow_unicode=True, sort_keys=False, default_flow_style=flow,
                          width=60 if flow else 1000)
    path.write_text(text)
    try:
        project = load_project(path)
    except MoltgenError as error:
        for problem in assert_located(error, str(path), text):
            # The YAML is well formed (we dumped it) and its root is a mapping, so every
            # problem is about a setting: it names the field.
            assert problem.field is not None, str(problem)
        return
    # A spec that loads is complete: its environments are the ones written, and it renders
    # (rendering is pure: no sops, no files).
    assert set(project.environments) == {str(env) for env in spec.get("environments") or {}}
    tree = render_tree(project)
    assert tree and all(isinstance(content, bytes) for content in tree.values())


@FUZZ
@given(edited(st.sampled_from([MINIMAL_SPEC, (REPO / "moltgen.yaml").read_text()])))
def test_edited_spec_text_loads_or_gives_located_errors(scratch, text):
    path = scratch / "moltgen.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_project(path)
    except MoltgenError as error:
        assert_located(error, str(path), text)


# -- 3. random Kubernetes-ish manifests through `moltgen check` ----------------------------------

KINDS = [("v1", "Pod"), ("v1", "Service"), ("v1", "Secret"), ("v1", "ConfigMap"),
         ("v1", "ServiceAccount"), ("v1", "PersistentVolumeClaim"), ("v1", "Namespace"),
         ("v1", "List"), ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"),
         ("apps/v1", "DaemonSet"), ("batch/v1", "Job"), ("batch/v1", "CronJob"),
         ("networking.k8s.io/v1", "Ingress"), ("networking.k8s.io/v1", "NetworkPolicy"),
         ("argoproj.io/v1alpha1", "Application"), ("argoproj.io/v1alpha1", "AppProject"),
         ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
         ("source.toolkit.fluxcd.io/v1", "GitRepository"), ("example.com/v1", "Widget"),
         ("v1", "pod"), ("", "Deployment"), ("apps/v1", ""), ("v9", "Pod")]

containers = st.lists(st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(["gateway", "c"]), junk),
     "image": st.one_of(st.sampled_from(["ghcr.io/openclaw/openclaw:2026.1.1", "nginx",
                                         "busybox@sha256:" + "a" * 64]), junk)},
    optional={"args": st.one_of(st.just(["gateway", "--bind", "loopback"]), junk),
              "command": junk, "env": st.one_of(st.lists(st.fixed_dictionaries(
                  {"name": st.sampled_from(["A", "NODE_OPTIONS", "ANTHROPIC_API_KEY"])},
                  optional={"value": junk, "valueFrom": junk}), max_size=3), junk),
              "resources": st.one_of(st.fixed_dictionaries({}, optional={
                  "limits": st.dictionaries(st.sampled_from(["cpu", "memory"]), scalars),
                  "requests": st.dictionaries(st.sampled_from(["cpu", "memory"]), scalars)}), junk),
              "securityContext": junk, "livenessProbe": junk, "readinessProbe": junk,
              "ports": junk, "volumeMounts": junk}),
    max_size=3)
pod_spec = st.fixed_dictionaries({"containers": st.one_of(containers, junk)},
                                 optional={"initContainers": containers, "volumes": junk,
                                           "securityContext": junk, "hostNetwork": junk,
                                           "automountServiceAccountToken": junk})
metadata = st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(["clawdbot", "x"]), junk)},
    optional={"namespace": st.one_of(st.just("team-a"), junk),
              "labels": st.dictionaries(odd_keys, scalars, max_size=3),
              "annotations": st.dictionaries(
                  st.one_of(st.sampled_from(["moltgen.dev/waive.image-digest",
                                             "moltgen.dev/waive.schema",
                                             "nginx.ingress.kubernetes.io/proxy-read-timeout"]),
                            odd_keys),
                  st.one_of(st.sampled_from(["why; expires=2099-01-01; owner=me", "; expires=x",
                                             "r; bogus=1", "r; expires=2000-01-01"]), scalars),
                  max_size=3)})
bodies = st.fixed_dictionaries({}, optional={
    "spec": st.one_of(
        st.fixed_dictionaries({"template": st.fixed_dictionaries({"spec": pod_spec})},
                              optional={"replicas": scalars, "selector": junk}),
        pod_spec,
        st.fixed_dictionaries({"jobTemplate": st.just({"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "x"}]}}}})}),
        st.fixed_dictionaries({}, optional={"rules": junk, "tls": junk, "ports": junk,
                                            "selector": junk, "ingress": junk}),
        junk),
    "data": st.one_of(st.dictionaries(st.one_of(st.sampled_from(["openclaw.json", "a"]), odd_keys),
                                      st.one_of(st.sampled_from([
                                          '{"gateway": {"bind": "lan"}} // c', "{'a': 1,}", "[",
                                          "[" * 3000 + "]" * 3000, "1e999", '{"a": NaN}']), scalars)),
                      junk),
    "stringData": junk, "sops": st.one_of(st.just({"age": [{"recipient": "age1x"}],
                                                   "lastmodified": "2020-01-01T00:00:00Z"}), junk),
    "items": st.lists(st.fixed_dictionaries({"apiVersion": st.just("v1"), "kind": st.just("Pod")}),
                      max_size=2),
    "junk": junk})


@st.composite
def manifests(draw: Any) -> dict:
    api_version, kind = draw(st.sampled_from(KINDS))
    data: dict[Any, Any] = {"apiVersion": api_version, "kind": kind}
    if draw(st.integers(0, 9)) == 0:  # sometimes the identifying fields themselves are wrong
        data[draw(st.sampled_from(["apiVersion", "kind"]))] = draw(junk)
    data["metadata"] = draw(st.one_of(metadata, junk)) if draw(st.booleans()) else draw(metadata)
    data.update(draw(bodies))
    return data


def _objects(documents: list[Any]) -> int:
    """How many objects `check` must see: mappings, with `*List` kinds flattened."""
    count = 0
    for data in documents:
        if not isinstance(data, dict):
            continue
        if str(data.get("kind", "")).endswith("List") and isinstance(data.get("items"), list):
            count += _objects(data["items"])
        else:
            count += 1
    return count


@FUZZ
@given(st.lists(st.one_of(manifests(), junk), min_size=1, max_size=3), st.booleans())
def test_random_manifests_check_without_crashing_and_findings_are_located(scratch, documents, strict):
    path = scratch / "manifests.yaml"
    text = yaml.safe_dump_all(documents, allow_unicode=True, sort_keys=False)
    path.write_text(text)
    options = CheckOptions([str(path)], [], policy=POLICY, strict=strict)
    try:
        result, catalog = run_check(options)
    except MoltgenError as error:
        assert_located(error, str(path), text)
        return
    loaded = [d.data for d in load_documents(text, "x")]  # empty documents are dropped
    assert result.objects == _objects(loaded)
    for finding in result.findings:
        assert finding.location is not None and finding.location.file == str(path), finding
        assert finding.location.line is not None and 1 <= finding.location.line <= len(text.splitlines()) + 1
        assert finding.rule in catalog.rules, finding.rule
    # Every report format takes whatever the findings say (names, messages, odd characters).
    reports = {fmt: render_report(result, fmt, catalog) for fmt in FORMATS}
    assert json.loads(reports["json"])["summary"]["objects"] == result.objects
    assert len(json.loads(reports["sarif"])["runs"][0]["results"]) == len(result.findings)
    ElementTree.fromstring(reports["junit"])
    # One workflow command per finding not waived (waived ones are only counted), whatever
    # line breaks a name or a message holds.
    shown = [f for f in result.findings if not f.waived]
    assert len(reports["github"].rstrip("\n").split("\n")) == len(shown) + 1


# -- 3b. Secret sops metadata and policy parameters -------------------------------------------

CIPHERTEXT = "ENC[AES256_GCM,data:eA==,iv:eA==,tag:eA==,type:str]"
age_entries = st.one_of(junk, st.fixed_dictionaries({}, optional={"recipient": junk, "enc": junk}))
sops_blocks = st.one_of(junk, st.fixed_dictionaries({}, optional={
    "age": st.one_of(junk, st.lists(age_entries, max_size=3)), "lastmodified": junk, "mac": junk,
    "encrypted_regex": junk, "version": junk, "pgp": junk, "kms": junk, "unencrypted_suffix": junk}))


@FUZZ
@given(sops_blocks)
@example({"age": 1})
@example({"age": True})
@example({"age": float("nan")})
@example({"age": [{"recipient": [1]}]})
def test_secret_sops_metadata_gives_facts_a_located_error_or_findings(scratch, sops):
    from moltgen.secrets.facts import read_secret_facts

    document = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"},
                "stringData": {"a": CIPHERTEXT, "b": ""}, "sops": sops}
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    try:  # as render and render --check read an encrypted file
        facts = read_secret_facts(text, "secret.enc.yaml")
    except MoltgenError as error:
        for problem in assert_located(error, "secret.enc.yaml", text):
            assert problem.field and problem.field.startswith("sops"), str(problem)
    else:
        assert all(isinstance(r, str) for r in facts.recipients)
    path = scratch / "secret.yaml"
    path.write_text(text)
    result, _ = run_check(CheckOptions([str(path)], [], policy=POLICY))  # as check reads it
    assert result.objects == 1


PARAMETERIZED = [("secret-rotation-age", "maxAgeDays"), ("image-tag-latest", "mutableTags"),
                 ("ingress-websocket-timeouts", "minSeconds"), ("moltbot-bind-lan", "x")]
param_values = st.one_of(junk, st.integers(), st.floats(), st.text(),
                         st.sampled_from([float("nan"), float("inf"), 2**64, -2**63, "1\n2",
                                          "\x1b[2J", "'; true || '", [1], {"a": float("nan")}]))


@FUZZ
@given(st.sampled_from(PARAMETERIZED), param_values)
def test_policy_params_run_or_are_located_in_the_policy_file(scratch, rule_param, value):
    rule, param = rule_param
    policy = scratch / "policy.yaml"
    text = yaml.safe_dump({"rules": {rule: {"params": {param: value}}}}, allow_unicode=True)
    policy.write_text(text)
    manifests = scratch / "params.yaml"
    manifests.write_text(VALID_POD + "---\n" + (REPO / "base" / "deployment.yaml").read_text())
    try:
        result, _ = run_check(CheckOptions([str(manifests)], [], policy=policy))
    except MoltgenError as error:
        for problem in assert_located(error, str(policy), text):
            assert problem.field and problem.field.startswith(f"rules.{rule}.params"), str(problem)
        return
    assert result.objects == 2


# -- 3c. kustomizations the confinement walk reads before kustomize runs --------------------------

KUSTOMIZATION_FIELDS = ["resources", "bases", "components", "crds", "configurations",
                        "patchesStrategicMerge", "patches", "patchesJson6902", "replacements",
                        "configMapGenerator", "secretGenerator", "generators", "transformers",
                        "validators", "helmCharts", "helmGlobals", "openapi"]
entries = st.one_of(junk, st.sampled_from(
    ["cm.yaml", "../x", "/etc/passwd", "http://127.0.0.1:9/x", "git@h:o/r", "a\x00b", ".", "..",
     "k=cm.yaml", "cm.yaml\n", "kind: X\npath: ../../x\n", "~/x", "", " "]))
list_items = st.one_of(entries, st.dictionaries(
    st.sampled_from(["path", "files", "envs", "env", "repo", "valuesFile", "chartHome", "name"]),
    st.one_of(entries, st.lists(entries, max_size=3))))
kustomizations = st.dictionaries(
    st.sampled_from(KUSTOMIZATION_FIELDS),
    st.one_of(st.lists(list_items, max_size=3),
              st.dictionaries(st.sampled_from(["path", "chartHome", "configHome"]), entries),
              entries),
    max_size=4)


@FUZZ
@given(kustomizations)
@example({"resources": ["a\x00b"]})
@example({"configMapGenerator": [{"files": [{}], "envs": 1, "env": [1]}]})
def test_confinement_walk_passes_or_names_the_kustomization_line(scratch, data):
    from moltgen.kustomize.confine import check_kustomization

    overlay = scratch / "walk"
    overlay.mkdir(exist_ok=True)
    (overlay / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    (overlay / "kustomization.yaml").write_text(text)
    try:
        check_kustomization(overlay, root=scratch.resolve())
    except MoltgenError as error:
        assert_located(error, str(overlay / "kustomization.yaml"), text)


VALID_POD = """apiVersion: v1
kind: Pod
metadata: {name: p, namespace: n}
spec:
  containers:
    - name: c
      image: "busybox:1.36"
"""


@FEW
@given(edited(st.just(VALID_POD)))
@example("apiVersion: v1\nkind: Pod\nmetadata: {name: p\n")
@example(VALID_POD.replace("    - name: c", "\t- name: c"))
def test_check_command_on_edited_manifests_exits_0_1_or_2_with_located_errors(scratch, text):
    path = scratch / "edited.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_file(path, path.name)  # as the command reads it
        expected = None
    except MoltgenError as error:
        expected = error
    result = run_moltgen("check", path.name, "--policy", str(POLICY), "--format", "json",
                         cwd=scratch)  # no traceback
    assert result.code in (0, 1, 2), result
    if expected is not None:
        # Invalid YAML: a `parse` finding (exit 1) for each of the loader's located problems.
        assert result.code == 1 and result.stderr == ""
        parse = [(f["file"], f["line"], f["message"])
                 for f in json.loads(result.stdout)["findings"] if f["rule"] == "parse"]
        assert parse == [(p.location.file, p.location.line, p.message) for p in expected.problems]
        assert all(p.location.line for p in expected.problems)


@pytest.mark.parametrize("content", [
    b"", b"\x00\x01\xff\xfe", b"\xef\xbb\xbfa: 1\r\nb: \xc2\x85\n",
    b"kind: List\nitems: [1, {kind: List, items: [{kind: Pod, apiVersion: v1}]}]\n",
    b"a: !!binary aGk=\n",
])
def test_check_command_on_odd_files_never_tracebacks(scratch, content):
    path = scratch / "odd.yaml"
    path.write_bytes(content)
    result = run_moltgen("check", path.name, "--policy", str(POLICY), cwd=scratch)
    assert result.code in (0, 1, 2)
    if result.code == 2:
        assert all(line.startswith("moltgen: odd.yaml") for line in result.stderr.splitlines())


def test_check_command_on_invalid_utf8_stdin_is_a_clear_error(scratch):
    # In the C.UTF-8 locale (containers, CI runners) Python's stdin lets undecodable bytes in as
    # surrogates; that used to end as "internal error (UnicodeEncodeError)".
    result = subprocess.run([sys.executable, "-m", "moltgen", "check", "-", "--policy", str(POLICY)],
                            input=b"kind: ConfigMap\ndata: {a: \"\xff\xfe\"}\n", capture_output=True,
                            cwd=scratch, timeout=120, check=False,
                            env={**os.environ, "LC_ALL": "C.UTF-8"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.decode() == "moltgen: <stdin>: not UTF-8 text (byte 27)\n"


# -- 4. hostile inputs: alias bombs, huge files, deep nesting ------------------------------------

def _billion_laughs() -> str:
    lines = ['lol: &lol "lol"', "lol1: &lol1 [" + ", ".join(["*lol"] * 10) + "]"]
    lines += [f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * 10) + "]" for i in range(2, 10)]
    return "\n".join(lines) + "\nboom: *lol9\n"


def _nested_9x9() -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
    return "\n".join(lines) + "\n"


HOSTILE = {
    # name: (content, what the one line of stderr says)
    "billion-laughs": (_billion_laughs, "an alias bomb?"),
    "nested-9x9-aliases": (_nested_9x9, "an alias bomb?"),
    "40MB-file": (lambda: "items:\n" + "- key: value-0123456789\n" * (40 * 2**20 // 23),
                  f"is more than the {MAX_BYTES} bytes"),
    "10k-deep-flow-sequences": (lambda: "[" * 10_000 + "]" * 10_000 + "\n", "nesting depth"),
    "500-deep-sequences": (lambda: "a: " + "[" * 500 + "]" * 500 + "\n", "nested more than"),
    "30MB-scalar": (lambda: "name: " + "x" * (30 * 2**20) + "\nnamespace: a\n",
                    "characters is more than the"),
}


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("hostile")
    for name, (make, _) in HOSTILE.items():
        (directory / f"{name}.yaml").write_text(make())
    return directory


@pytest.mark.parametrize("command", ["check", "render"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_inputs_are_refused_quickly_in_one_line(hostile_dir, name, command):
    file = f"{name}.yaml"
    args = ["check", file, "--policy", str(POLICY)] if command == "check" else ["render", "-f", file]
    started = time.perf_counter()
    result = run_moltgen(*args, cwd=hostile_dir)  # asserts: no traceback
    elapsed = time.perf_counter() - started
    print(f"{command} {name}: {elapsed:.2f} s")  # shown with -s
    assert elapsed < 10, f"{elapsed:.1f} s"  # generous: a shared 2-core machine; see TIMINGS
    if command == "check":  # a file check cannot parse is one `parse` finding, the run goes on
        assert result.code == 1 and result.stderr == "", result.stderr[:500]
        lines = [line for line in result.stdout.splitlines() if " parse " in line]
        assert len(lines) == 1 and result.stdout.startswith(file), result.stdout[:500]
        assert HOSTILE[name][1] in lines[0] and len(lines[0]) < 300, lines[0][:300]
        return
    assert result.code == 2, result.stderr[:500]
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[:500]
    assert lines[0].startswith(f"moltgen: {file}"), lines[0][:300]
    assert HOSTILE[name][1] in lines[0], lines[0][:300]
    assert len(lines[0]) < 300
    assert not (hostile_dir / "base").exists()  # render refused before writing anything
    assert elapsed < 10, f"{elapsed:.1f} s"  # generous: a shared 2-core machine; see TIMINGS
