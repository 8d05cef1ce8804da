"""The renderer and the managed tree: deterministic, headed, atomic, self-cleaning."""

from pathlib import Path

from support import MINIMAL_SPEC, run_moltgen, snapshot

from moltgen.core.yamlio.parse import load_documents
from moltgen.project import load_project
from moltgen.render import render_tree
from moltgen.render.objects import PINNED_IMAGE_ANNOTATION
from moltgen.tree import GENERATED_MARK

DEPRECATED = ("commonLabels", "patchesStrategicMerge", "vars", "bases", "patchesJson6902")


def render(root: Path) -> dict[str, bytes]:
    return render_tree(load_project(root / "moltgen.yaml"))


def test_same_spec_gives_byte_identical_output(project_dir):
    root = project_dir()
    assert render(root) == render(root)
    assert run_moltgen("render", cwd=root).code == 0
    first = snapshot(root)
    assert run_moltgen("render", cwd=root).code == 0
    assert snapshot(root) == first


def test_every_generated_file_starts_with_the_header(project_dir):
    for path, content in render(project_dir()).items():
        first = content.decode().splitlines()[0]
        assert GENERATED_MARK in first and "moltgen.yaml" in first and "Do not edit" in first, path


def test_kustomizations_use_no_deprecated_fields():
    tree = render_tree(load_project("moltgen.yaml"))
    kustomizations = [p for p in tree if p.endswith("kustomization.yaml")]
    assert kustomizations == ["base/kustomization.yaml", "overlays/dev/kustomization.yaml",
                              "overlays/prod/kustomization.yaml"]
    for path in kustomizations:
        data = load_documents(tree[path].decode(), path)[0].data
        assert not set(data) & set(DEPRECATED), path
    dev = load_documents(tree["overlays/dev/kustomization.yaml"].decode(), "k")[0].data
    assert {"namespace", "labels", "patches", "resources"} <= set(dev)


def test_images_field_carries_an_environment_image_change(project_dir):
    root = project_dir(MINIMAL_SPEC.replace("  prod: {}", "  prod:\n    image:\n      tag: '2026.8.0'\n"
                                            "      digest: sha256:" + "a" * 64))
    tree = render(root)
    prod = load_documents(tree["overlays/prod/kustomization.yaml"].decode(), "k")[0].data
    assert prod["images"] == [{"name": "ghcr.io/openclaw/openclaw", "newTag": "2026.8.0",
                               "digest": "sha256:" + "a" * 64}]
    # The transformer moves the container's image; the one patch moves the annotation that
    # records the image validated (the base's says the base's image), and nothing else.
    assert [p["path"] for p in prod["patches"]] == ["patches/deployment-assistant.yaml"]
    patch = load_documents(tree["overlays/prod/patches/deployment-assistant.yaml"].decode(), "p")[0].data
    assert patch == {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "assistant", "annotations": {PINNED_IMAGE_ANNOTATION:
                                       "ghcr.io/openclaw/openclaw:2026.8.0@sha256:" + "a" * 64}}}


def test_an_image_the_transformer_cannot_express_is_patched_with_its_annotation(project_dir):
    # The base pins a digest; prod drops it (the images transformer cannot remove one), so the
    # container's image and the annotation are both patched, to the same reference.
    digest = "sha256:" + "a" * 64
    root = project_dir(MINIMAL_SPEC.replace("namespace: team-a\n", f"namespace: team-a\nimage:\n"
                                            f"  tag: '2026.7.35'\n  digest: {digest}\n", 1)
                       .replace("  prod: {}", "  prod:\n    image:\n      tag: '2026.8.0'\n"
                                "      digest: null"))
    tree = render(root)
    base = load_documents(tree["base/deployment.yaml"].decode(), "d")[0].data
    assert base["metadata"]["annotations"][PINNED_IMAGE_ANNOTATION] == \
        f"ghcr.io/openclaw/openclaw:2026.7.35@{digest}"
    prod = load_documents(tree["overlays/prod/kustomization.yaml"].decode(), "k")[0].data
    assert "images" not in prod
    patch = load_documents(tree["overlays/prod/patches/deployment-assistant.yaml"].decode(), "p")[0].data
    assert patch["metadata"]["annotations"] == {PINNED_IMAGE_ANNOTATION: "ghcr.io/openclaw/openclaw:2026.8.0"}
    assert patch["spec"]["template"]["spec"]["containers"] == [
        {"name": "gateway", "image": "ghcr.io/openclaw/openclaw:2026.8.0"}]
    dev = load_documents(tree["overlays/dev/kustomization.yaml"].decode(), "k")[0].data
    assert "images" not in dev  # dev keeps the base's image: nothing to patch about it
    assert "overlays/dev/patches/deployment-assistant.yaml" not in tree


def test_removed_environment_files_are_deleted_and_foreign_files_kept(project_dir):
    root = project_dir()
    assert run_moltgen("render", cwd=root).code == 0
    (root / "overlays" / "dev" / "NOTES.md").write_text("mine\n")
    (root / "base" / "extra.yaml").write_text("kind: ConfigMap\n")
    (root / "moltgen.yaml").write_text(MINIMAL_SPEC.replace("  dev:\n    namespace: team-a-dev\n", ""))
    result = run_moltgen("render", cwd=root)
    assert result.code == 0
    assert "removed  overlays/dev/kustomization.yaml" in result.stdout
    assert not (root / "overlays" / "dev" / "kustomization.yaml").exists()
    assert (root / "overlays" / "dev" / "NOTES.md").read_text() == "mine\n"
    assert (root / "base" / "extra.yaml").read_text() == "kind: ConfigMap\n"


def test_render_refuses_to_overwrite_a_file_it_did_not_generate(project_dir):
    root = project_dir()
    (root / "base").mkdir()
    (root / "base" / "deployment.yaml").write_text("hand written\n")
    result = run_moltgen("render", cwd=root)
    assert result.code == 2
    assert "base/deployment.yaml: exists and was not generated by moltgen" in result.stderr
    assert (root / "base" / "deployment.yaml").read_text() == "hand written\n"
    assert not (root / "base" / "service.yaml").exists()  # nothing half-written


def test_render_check_reports_drift_with_a_diff_and_writes_nothing(project_dir):
    root = project_dir()
    result = run_moltgen("render", "--check", cwd=root)
    assert result.code == 1
    assert "+++ b/base/deployment.yaml" in result.stdout
    assert not (root / "base").exists()
    assert run_moltgen("render", cwd=root).code == 0
    assert run_moltgen("render", "--check", cwd=root).code == 0
    (root / "moltgen.yaml").write_text(MINIMAL_SPEC.replace("team-a-dev", "team-a-staging"))
    before = snapshot(root)
    result = run_moltgen("render", "--check", cwd=root)
    assert result.code == 1
    assert "-namespace: team-a-dev" in result.stdout and "+namespace: team-a-staging" in result.stdout
    assert snapshot(root) == before


def test_edited_generated_file_is_drift(project_dir):
    root = project_dir()
    run_moltgen("render", cwd=root)
    path = root / "base" / "service.yaml"
    path.write_text(path.read_text().replace("18789", "8080"))
    result = run_moltgen("render", "--check", cwd=root)
    assert result.code == 1 and "base/service.yaml" in result.stdout


def test_no_temporary_files_are_left_behind(project_dir):
    root = project_dir()
    run_moltgen("render", cwd=root)
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_second_render_waits_for_the_lock_then_fails_clearly(project_dir):
    import fcntl
    import time
    root = project_dir()
    with open(root / ".moltgen.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        started = time.monotonic()
        result = run_moltgen("render", "--lock-timeout", "1", cwd=root)
        waited = time.monotonic() - started
    assert result.code == 2 and waited >= 1
    assert "another moltgen command is writing this project (waited 1 s)" in result.stderr
    assert "--lock-timeout" in result.stderr
    assert not (root / "base").exists()


def test_a_render_waiting_for_the_lock_goes_on_when_it_is_released(project_dir):
    import fcntl
    import subprocess
    import sys
    import time
    root = project_dir()
    with open(root / ".moltgen.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        waiting = subprocess.Popen([sys.executable, "-m", "moltgen", "render", "--lock-timeout", "60"],
                                   cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        assert waiting.poll() is None  # still waiting
    stdout, stderr = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, stderr
    assert (root / "base" / "kustomization.yaml").exists()


def test_init_writes_a_starter_that_renders_and_builds(tmp_path):
    result = run_moltgen("init", "--name", "helper", "--namespace", "helpers", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert (tmp_path / "moltgen.schema.json").exists()
    assert run_moltgen("render", cwd=tmp_path).code == 0
    built = run_moltgen("build", "prod", cwd=tmp_path)
    assert built.code == 0 and "name: helper" in built.stdout
    again = run_moltgen("init", cwd=tmp_path)
    assert again.code == 2 and "already exists" in again.stderr


def test_init_keeps_the_render_lock_out_of_git(tmp_path):
    (tmp_path / ".gitignore").write_text("node_modules/")  # kept, and no newline at its end
    assert run_moltgen("init", str(tmp_path)).code == 0
    assert (tmp_path / ".gitignore").read_text() == "node_modules/\n.moltgen.lock\n"
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert run_moltgen("init", str(fresh)).code == 0
    assert (fresh / ".gitignore").read_text() == ".moltgen.lock\n"


def test_init_rejects_a_bad_name_and_writes_nothing(tmp_path):
    result = run_moltgen("init", "--name", "Bad_Name", cwd=tmp_path)
    assert result.code == 2 and "--name: 'Bad_Name' is not a DNS-1123 label" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_schema_command_prints_json_schema():
    import json
    result = run_moltgen("schema")
    assert result.code == 0
    assert json.loads(result.stdout)["properties"]["environments"]["type"] == "object"
