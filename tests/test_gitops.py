"""gitops/: what Argo CD and Flux sync, rendered from the spec's `gitops` section."""

from support import run_moltgen

from moltgen.core.yamlio.parse import load_documents

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
                          "gitops/flux/prod.yaml", "gitops/flux/sync.yaml",
                          "gitops/flux/kustomization.yaml"}
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


def test_flux_overlays_create_their_namespace_with_the_kubesphere_workspace_label(tmp_path):
    from moltgen.kustomize import engine as kustomize
    render(tmp_path, "flux", "kubesphere: {workspace: ai-team}\ninstances:\n  - name: alice\n")
    built = load_documents(kustomize.build(tmp_path / "overlays" / "dev" / "alice"), "b")
    [namespace] = [d.data for d in built if d.data["kind"] == "Namespace"]
    assert namespace["metadata"]["name"] == "bots-dev-alice"
    assert namespace["metadata"]["labels"] == {"kubesphere.io/workspace": "ai-team",
                                               "moltgen.dev/environment": "dev",
                                               "moltgen.dev/instance": "alice"}
    # Every other object of the overlay lives in it.
    assert {d.data["metadata"].get("namespace") for d in built if d.data is not namespace} \
        == {"bots-dev-alice"}


def test_argocd_labels_the_namespaces_it_creates(tmp_path):
    files = render(tmp_path, "argocd", "kubesphere: {workspace: ai-team}\n")
    policy = files["gitops/argocd/application-prod.yaml"]["spec"]["syncPolicy"]
    assert "CreateNamespace=true" in policy["syncOptions"]
    assert policy["managedNamespaceMetadata"] == {"labels": {"kubesphere.io/workspace": "ai-team"}}
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    files = render(fleet, "argocd", "kubesphere: {workspace: ai-team}\ninstances:\n  - name: a\n")
    template = files["gitops/argocd/applicationset-dev.yaml"]["spec"]["template"]["spec"]
    assert template["syncPolicy"]["managedNamespaceMetadata"]["labels"] == \
        {"kubesphere.io/workspace": "ai-team"}
    plain = tmp_path / "plain"
    plain.mkdir()
    policy = render(plain, "argocd")["gitops/argocd/application-dev.yaml"]["spec"]["syncPolicy"]
    assert "managedNamespaceMetadata" not in policy


def test_the_readme_sync_commands_reach_every_gitops_object_of_a_fleet(tmp_path):
    """The README's `kubectl apply` lines, run the way kubectl reads its files: `-k DIR` is the
    kustomize build of DIR (the real engine), `-f DIR` every YAML file directly in DIR."""
    import re

    from support import REPO

    from moltgen.kustomize import engine as kustomize
    readme = (REPO / "README.md").read_text()
    commands = dict(re.findall(r"^kubectl apply (-[kf] gitops/(?:argocd|flux)/)\s.*# (\w+)",
                               readme, re.MULTILINE))
    assert set(commands.values()) == {"Flux", "Argo"}, commands
    for engine, option in (("flux", "-k"), ("argocd", "-f")):
        root = tmp_path / engine
        root.mkdir()
        files = render(root, engine, "instances:\n  - name: alice\n  - name: bob\n")
        [flag_and_dir] = [c for c in commands if c.endswith(f"gitops/{engine}/")]
        flag, directory = flag_and_dir.split()
        assert flag == option
        if flag == "-k":
            applied = [d.data for d in load_documents(kustomize.build(root / directory), "b")]
        else:
            applied = [d.data for p in sorted((root / directory).glob("*.yaml"))
                       for d in load_documents(p.read_text(), str(p))]
        expected = [obj for path, obj in files.items() if not path.endswith("kustomization.yaml")]
        key = lambda o: (o["kind"], o["metadata"]["name"])
        assert sorted(map(key, applied)) == sorted(map(key, expected))
    files = render(tmp_path / "flux", "flux", "instances:\n  - name: alice\n  - name: carol\n")
    # The sync Kustomization applies gitops/flux itself: a new instance arrives through Git.
    assert files["gitops/flux/sync.yaml"]["spec"]["path"] == "./clusters/main/gitops/flux"
    assert "prod/carol.yaml" in files["gitops/flux/kustomization.yaml"]["resources"]
