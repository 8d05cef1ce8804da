"""This repository's own committed tree is what its spec renders."""

from support import REPO, run_moltgen


def test_committed_tree_equals_a_fresh_render():
    result = run_moltgen("render", "--check", cwd=REPO)
    assert result.code == 0, result.stdout + result.stderr


def _copy_of_repository(tmp_path):
    import shutil

    for name in ("moltgen.yaml", "base", "overlays", "policies", ".sops.yaml"):
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
    assert (failing["rule"], failing["message"], failing["file"], failing["line"]) == (
        "secret-empty-value", "empty value for key gatewayToken", "overlays/prod/secret.enc.yaml",
        index + 1)
