"""Argo CD's shipped CRD schemas are upstream's (issue 24): what tools/argocd_schemas.py makes
of the upstream CRDs kept in tests/corpus/argo-cd (argoproj/argo-cd v3.5.1, see its SOURCE.md),
byte for byte, and strict as the API server's structural schema plus `--validate=strict`.

The test cannot reach GitHub: a release bump replaces the corpus copy, then `make argocd-schemas`.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from moltgen.kube.schemas import SHIPPED_DIR, SchemaSet

REPO = Path(__file__).resolve().parent.parent
CRDS = REPO / "tests" / "corpus" / "argo-cd"
TOOL = REPO / "tools" / "argocd_schemas.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("argocd_schemas", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_files_are_what_the_command_makes_of_upstream(tool):
    produced = tool.render([CRDS])
    assert sorted(produced) == ["application_v1alpha1.json", "applicationset_v1alpha1.json",
                                "appproject_v1alpha1.json"]
    shipped = SHIPPED_DIR / "argoproj.io"
    assert sorted(p.name for p in shipped.glob("*.json")) == sorted(produced)
    for name, data in produced.items():
        assert (shipped / name).read_bytes() == data, f"{name} is stale: run make argocd-schemas"


APPLICATION = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
    "metadata": {"name": "clawdbot", "namespace": "argocd"},
    "spec": {"project": "default",
             "source": {"repoURL": "https://example.com/repo.git", "path": "overlays/prod",
                        "targetRevision": "main"},
             "destination": {"server": "https://kubernetes.default.svc", "namespace": "n"},
             "syncPolicy": {"automated": {"prune": True, "selfHeal": True},
                            "retry": {"limit": 5, "backoff": {"duration": "5s", "factor": 2}}}},
}


def test_a_misspelt_retry_field_is_rejected_as_upstream_rejects_it():
    schemas = SchemaSet("1.33")
    assert schemas.validate(APPLICATION) == []
    bad = {**APPLICATION, "spec": {**APPLICATION["spec"], "syncPolicy": {"retry": {"limitt": 5}}}}
    [error] = schemas.validate(bad)
    assert error.path == ("spec", "syncPolicy", "retry", "limitt")
    assert error.message == "unknown field 'limitt'"


def test_upstream_constraints_beyond_field_names():
    schemas = SchemaSet("1.33")
    # int-or-string: the backoff factor is an integer or a string, not a list
    wrong = {**APPLICATION, "spec": {**APPLICATION["spec"], "syncPolicy": {
        "retry": {"backoff": {"factor": [2]}}}}}
    assert [e.path for e in schemas.validate(wrong)] == [("spec", "syncPolicy", "retry", "backoff", "factor")]
    # required by upstream: an Application names its destination
    no_destination = {**APPLICATION, "spec": {k: v for k, v in APPLICATION["spec"].items() if k != "destination"}}
    assert [e.message for e in schemas.validate(no_destination)] == ["missing required field 'destination'"]
    project = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
               "metadata": {"name": "p", "namespace": "argocd"},
               "spec": {"sourceRepos": ["*"], "destinations": [{"namespace": "n", "servr": "x"}]}}
    assert [e.message for e in schemas.validate(project)] == ["unknown field 'servr'"]


def test_metadata_is_kubernetes_object_meta():
    # Not a bare `type: object`: a misspelt metadata field or a label that is not text fails, as
    # the API server's ObjectMeta makes it, and kubectl apply needs a name.
    schemas = SchemaSet("1.33")
    bad = {**APPLICATION, "metadata": {"nmae": "clawdbot", "namespace": "argocd", "labels": {"tier": 1}}}
    assert sorted((e.path, e.message) for e in schemas.validate(bad)) == [
        (("metadata",), "missing required field 'name'"),
        (("metadata", "labels", "tier"), "metadata.labels.tier: expected string, got integer"),
        (("metadata", "nmae"), "unknown field 'nmae'")]


def test_the_command_refuses_what_is_not_an_argo_cd_crd(tmp_path):
    other = tmp_path / "other-crd.yaml"
    other.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    before = {p.name: p.read_bytes() for p in (SHIPPED_DIR / "argoproj.io").iterdir()}
    result = subprocess.run([sys.executable, str(TOOL), str(other)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"tools/argocd_schemas.py: {other}: not a CustomResourceDefinition of argoproj.io"]
    assert {p.name: p.read_bytes() for p in (SHIPPED_DIR / "argoproj.io").iterdir()} == before
