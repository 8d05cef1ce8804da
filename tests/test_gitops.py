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


def test_repo_url_is_checked_at_load_in_the_forms_each_engine_accepts(tmp_path):
    def load(engine, url):
        (tmp_path / "moltgen.yaml").write_text(
            f"name: a\nnamespace: b\ngitops:\n  engine: {engine}\n  repoUrl: '{url}'\n")
        return run_moltgen("render", "--check", cwd=tmp_path)

    # Flux's GitRepository CRD: spec.url matches ^(http|https|ssh)://; Argo CD also takes scp-like.
    scp = load("flux", "git@github.com:acme/x.git")
    assert scp.code == 2 and scp.stderr.count("\n") == 1
    assert scp.stderr.startswith("moltgen: moltgen.yaml:5:12: gitops.repoUrl: ")
    assert "write 'ssh://git@github.com/acme/x.git'" in scp.stderr
    for engine in ("argocd", "flux"):
        assert load(engine, "ftp://git.example.com/x.git").code == 2
        assert load(engine, "https://git example.com/x.git").code == 2
        for url in ("https://github.com/acme/x.git", "ssh://git@github.com:2222/acme/x.git",
                    "http://gitea.local/acme/x"):
            assert load(engine, url).code == 1, url  # valid: only the missing tree is drift
    assert load("argocd", "git@github.com:acme/x.git").code == 1


def test_engine_set_per_environment_checks_the_top_level_url_where_it_is_written(tmp_path):
    (tmp_path / "moltgen.yaml").write_text(
        "name: a\nnamespace: b\ngitops:\n  repoUrl: git@github.com:acme/x.git\n"
        "environments:\n  prod:\n    gitops: {engine: flux}\n")
    result = run_moltgen("render", "--check", cwd=tmp_path)
    assert result.code == 2
    assert result.stderr.startswith("moltgen: moltgen.yaml:4:12: gitops.repoUrl: ")


def test_plain_check_also_checks_what_the_controllers_are_given(tmp_path):
    import json
    render(tmp_path, "flux")
    clean = json.loads(run_moltgen("check", "--format", "json", cwd=tmp_path).stdout)
    source = tmp_path / "gitops" / "flux" / "gitrepository.yaml"
    source.write_text(source.read_text().replace("https://git.example.com/platform/bots.git",
                                                 "git@git.example.com:platform/bots.git"))
    result = run_moltgen("check", "--format", "json", cwd=tmp_path)
    report = json.loads(result.stdout)
    assert report["summary"]["objects"] == clean["summary"]["objects"]
    assert result.code == 1
    [finding] = [f for f in report["findings"] if f["file"] == "gitops/flux/gitrepository.yaml"]
    assert finding["object"]["kind"] == "GitRepository" and finding["severity"] == "error"
