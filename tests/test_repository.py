"""This repository's own committed tree is what its spec renders."""

from support import REPO, run_moltgen


def test_committed_tree_equals_a_fresh_render():
    result = run_moltgen("render", "--check", cwd=REPO)
    assert result.code == 0, result.stdout + result.stderr


def test_this_repository_delivers_through_argo_cd_and_its_gate_runs_without_a_key():
    from moltgen.spec import load_project
    from moltgen.yamlio import load_file

    project = load_project(REPO / "moltgen.yaml")
    assert project.base.gitops.engine == "argocd"
    applications = {}
    for path in sorted((REPO / "gitops" / "argocd").glob("application-*.yaml")):
        [document] = load_file(path)
        applications[document.data["metadata"]["name"]] = document.data["spec"]
    assert {name: spec["source"]["path"] for name, spec in applications.items()} == \
        {f"clawdbot-{env}": f"overlays/{env}" for env in project.environments}
    assert {spec["source"]["repoURL"] for spec in applications.values()} == {project.base.gitops.repo_url}
    for env in project.environments:
        [kustomization] = load_file(REPO / "overlays" / env / "kustomization.yaml")
        assert kustomization.data["generators"] == ["secret-generator.yaml"]  # KSOPS
    gate = run_moltgen("check", cwd=REPO, env={"SOPS_AGE_KEY_FILE": "/nonexistent/keys.txt",
                                                 "XDG_CONFIG_HOME": "/nonexistent"})
    assert gate.code == 0, gate.stdout + gate.stderr
    import json
    everything = json.loads(run_moltgen("check", "--format", "json", cwd=REPO).stdout)
    overlays = json.loads(run_moltgen("check", "overlays/dev", "overlays/prod", "--format", "json",
                                      cwd=REPO).stdout)
    # The plain gate also reads gitops/: the AppProject and the two Applications.
    assert everything["summary"]["objects"] == overlays["summary"]["objects"] + 3
