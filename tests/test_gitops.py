"""gitops/: what Argo CD and Flux sync, rendered from the spec's `gitops` section."""

from support import run_moltgen
from moltgen.yamlio import load_documents

SPEC = """\
name: bot
namespace: bots
gitops:
  engine: {engine}
  repoUrl: https://git.example.com/platform/bots.git
  path: clusters/main
environments:
  dev:
    namespace: bots-dev
  prod:
    gitops:
      dependsOn: [cert-manager]
"""


def render(tmp_path, engine, extra=""):
    (tmp_path / "moltgen.yaml").write_text(SPEC.format(engine=engine) + extra)
    result = run_moltgen("render", cwd=tmp_path)
    assert result.code == 0, result.stderr
    return {p.relative_to(tmp_path).as_posix(): load_documents(p.read_text(), str(p))[0].data
            for p in sorted((tmp_path / "gitops").rglob("*.yaml"))}


def test_argocd_project_and_one_application_per_environment(tmp_path):
    files = render(tmp_path, "argocd")
    assert set(files) == {"gitops/argocd/appproject.yaml", "gitops/argocd/application-dev.yaml",
                          "gitops/argocd/application-prod.yaml"}
    project = files["gitops/argocd/appproject.yaml"]
    assert project["spec"]["sourceRepos"] == ["https://git.example.com/platform/bots.git"]
    assert [d["namespace"] for d in project["spec"]["destinations"]] == ["bots-dev", "bots"]
    dev = files["gitops/argocd/application-dev.yaml"]["spec"]
    prod = files["gitops/argocd/application-prod.yaml"]["spec"]
    assert dev["source"]["path"] == "clusters/main/overlays/dev"
    assert dev["destination"]["namespace"] == "bots-dev"
    assert dev["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert "automated" not in prod["syncPolicy"]  # prod syncs by hand by default
    assert prod["syncPolicy"]["syncOptions"] == ["CreateNamespace=true", "ServerSideApply=true"]


def test_argocd_fleet_uses_an_application_set_per_environment(tmp_path):
    files = render(tmp_path, "argocd", "instances:\n  - name: alice\n  - name: bob\n")
    appset = files["gitops/argocd/applicationset-prod.yaml"]
    generator = appset["spec"]["generators"][0]["git"]
    assert generator["directories"] == [{"path": "clusters/main/overlays/prod/*"}]
    template = appset["spec"]["template"]
    assert template["spec"]["source"]["path"] == "{{path}}"
    assert template["spec"]["destination"]["namespace"] == "bots-{{path.basename}}"
    assert not [p for p in files if "application-" in p]


def test_flux_git_repository_and_a_decrypting_kustomization_per_overlay(tmp_path):
    files = render(tmp_path, "flux")
    assert set(files) == {"gitops/flux/gitrepository.yaml", "gitops/flux/dev.yaml",
                          "gitops/flux/prod.yaml"}
    source = files["gitops/flux/gitrepository.yaml"]
    assert source["spec"]["url"] == "https://git.example.com/platform/bots.git"
    prod = files["gitops/flux/prod.yaml"]
    assert prod["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    assert prod["spec"]["path"] == "./clusters/main/overlays/prod"
    assert prod["spec"]["prune"] is True
    assert prod["spec"]["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}
    assert prod["spec"]["dependsOn"] == [{"name": "cert-manager"}]
    assert "dependsOn" not in files["gitops/flux/dev.yaml"]["spec"]


def test_flux_fleet_gets_a_kustomization_per_instance(tmp_path):
    files = render(tmp_path, "flux", "instances:\n  - name: alice\n")
    assert "gitops/flux/prod/alice.yaml" in files
    assert files["gitops/flux/prod/alice.yaml"]["spec"]["path"] == "./clusters/main/overlays/prod/alice"


def test_switching_engine_removes_the_other_engines_files(tmp_path):
    render(tmp_path, "argocd")
    files = render(tmp_path, "flux")
    assert not (tmp_path / "gitops" / "argocd").exists()
    assert "gitops/flux/prod.yaml" in files


def test_an_engine_needs_a_repository(tmp_path):
    (tmp_path / "moltgen.yaml").write_text("name: a\nnamespace: b\ngitops:\n  engine: flux\n")
    result = run_moltgen("render", cwd=tmp_path)
    assert result.code == 2 and "gitops: engine flux needs repoUrl" in result.stderr


def test_generated_gitops_manifests_pass_check_with_the_shipped_crd_schemas(tmp_path):
    import json
    for engine, extra in (("argocd", ""), ("argocd", "instances:\n  - name: alice\n"),
                          ("flux", ""), ("flux", "instances:\n  - name: alice\n")):
        root = tmp_path / f"{engine}-{bool(extra)}"
        root.mkdir()
        render(root, engine, extra)
        result = run_moltgen("check", "gitops", "--format", "json", "--fail-on", "warning", cwd=root)
        report = json.loads(result.stdout)
        assert result.code == 0, report["findings"]
        assert report["summary"]["objects"] >= 3
        assert report["findings"] == []
