"""This repository's own committed tree is what its spec renders."""

from support import REPO, run_moltgen


def test_committed_tree_equals_a_fresh_render():
    result = run_moltgen("render", "--check", cwd=REPO)
    assert result.code == 0, result.stdout + result.stderr


def _copy_of_repository(tmp_path):
    import shutil

    for name in ("moltgen.yaml", "base", "overlays", "gitops", "policies", ".sops.yaml"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        elif source.is_file():
            shutil.copy(source, tmp_path / name)
    return tmp_path


def test_this_repositorys_waiver_accepts_only_the_provider_keys(tmp_path):
    import json

    result = run_moltgen("check", "--format", "json", cwd=REPO)
    assert result.code == 0, result.stdout + result.stderr
    empty = [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "secret-empty-value"]
    assert empty and all(f["waived"] for f in empty)
    assert not any("gatewayToken" in f["message"] for f in empty)

    # An empty gatewayToken in prod (a bad merge, a hand edit) is not covered by the waiver.
    repo = _copy_of_repository(tmp_path)
    secret = repo / "overlays" / "prod" / "secret.enc.yaml"
    lines = secret.read_text().splitlines(keepends=True)
    [index] = [i for i, line in enumerate(lines) if line.strip().startswith("gatewayToken:")]
    lines[index] = lines[index].split("gatewayToken:")[0] + 'gatewayToken: ""\n'
    secret.write_text("".join(lines))
    result = run_moltgen("check", "--env", "prod", "--format", "json", cwd=repo)
    assert result.code == 1, result.stdout + result.stderr
    [failing] = [f for f in json.loads(result.stdout)["findings"]
                 if not f["waived"] and f["severity"] == "error"]
    assert (failing["rule"], failing["file"], failing["line"]) == (
        "secret-empty-value", "overlays/prod/secret.enc.yaml", index + 1)
    assert failing["message"].startswith("empty value for key gatewayToken ")


def test_this_repository_delivers_through_argo_cd_and_its_gate_runs_without_a_key():
    from moltgen.core.yamlio.parse import load_file
    from moltgen.project import load_project

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


def test_this_repositorys_broad_trusted_proxies_are_reported_and_waived_until_march_2027():
    import json

    from moltgen.check.config import load_policy

    result = run_moltgen("check", "--format", "json", cwd=REPO)
    broad = [f for f in json.loads(result.stdout)["findings"]
             if f["rule"] == "moltbot-trusted-proxies-narrow"]
    # one ConfigMap per overlay that has its own openclaw.json, and the base's
    assert broad and all(f["waived"] and "10.233.64.0/18" in f["message"] for f in broad)
    [waiver] = [w for w in load_policy(None, root=REPO).waivers
                if w.rule == "moltbot-trusted-proxies-narrow"]
    assert waiver.expires.isoformat() == "2027-03-31" and waiver.reason
