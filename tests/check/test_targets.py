from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from moltgen.check.sourcemap import OverlaySourceMap
from moltgen.check.targets import load_targets
from moltgen.core.errors import MoltgenError

MULTI = """apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: b}
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: c
"""


def test_file_multi_document_and_list_are_flattened(tmp_path):
    path = tmp_path / "all.yaml"
    path.write_text(MULTI)
    [target] = load_targets([str(path)], ["prod"])
    names = [m.data["metadata"]["name"] for m in target.manifests]
    assert names == ["a", "b", "c"] and target.env == "prod"
    located = target.manifests[2].locate(("metadata", "name"))
    assert located.line == 14


def test_directory_and_stdin(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "one.yml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    (tmp_path / "notes.txt").write_text("not yaml")
    [target] = load_targets([str(tmp_path)], [])
    assert [m.data["metadata"]["name"] for m in target.manifests] == ["x"]
    [piped] = load_targets(["-"], [], stdin=io.StringIO(MULTI))
    assert len(piped.manifests) == 3
    assert piped.manifests[0].locate(()).file == "<stdin>"


def test_missing_target_is_an_input_error():
    with pytest.raises(MoltgenError, match="no such file"):
        load_targets(["does/not/exist.yaml"], [])


def test_overlay_fields_point_at_the_patch_or_the_base(data_dir: Path, monkeypatch):
    monkeypatch.chdir(data_dir)
    [target] = load_targets(["overlays/prod"], [])
    assert target.env == "prod"  # overlays/<env>
    deployment = next(m for m in target.manifests if m.data["kind"] == "Deployment")
    assert deployment.data["metadata"]["namespace"] == "extension-clawdbot"
    names = [c["name"] for c in deployment.data["spec"]["template"]["spec"]["containers"]]
    gateway = names.index("gateway")
    sidecar = names.index("sidecar")
    container = ("spec", "template", "spec", "containers")
    image = deployment.locate(container + (gateway, "image"))
    assert (image.file, image.line) == (os.path.join("overlays", "prod", "patch-deployment.yaml"), 10)
    limits = deployment.locate(container + (gateway, "resources", "limits", "memory"))
    assert (limits.file, limits.line) == (os.path.join("base", "deployment.yaml"), 32)
    side = deployment.locate(container + (sidecar, "image"))
    assert (side.file, side.line) == (os.path.join("base", "deployment.yaml"), 22)
    missing = deployment.locate(container + (gateway, "securityContext"))  # absent: the container
    assert (missing.file, missing.line) == (os.path.join("base", "deployment.yaml"), 27)


def test_generated_configmap_points_at_its_generator(data_dir: Path, monkeypatch):
    monkeypatch.chdir(data_dir)
    source_map = OverlaySourceMap(Path("overlays/prod"))
    location = source_map.locate({"kind": "ConfigMap", "metadata": {"name": "clawdbot-config-8g2kt5h8mb"}},
                                 ("data", "mode"))
    assert location.file.endswith("kustomization.yaml") and location.line == 7


def test_json6902_patch_and_name_prefix(tmp_path, monkeypatch):
    base = tmp_path / "base"
    base.mkdir()
    (base / "kustomization.yaml").write_text("resources: [svc.yaml]\n")
    (base / "svc.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n    - port: 80\n")
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "namePrefix: prod-\nresources: [../base]\npatches:\n  - target: {kind: Service, name: web}\n"
        "    path: ops.yaml\n")
    (overlay / "ops.yaml").write_text("- op: replace\n  path: /spec/ports/0/port\n  value: 8080\n")
    monkeypatch.chdir(tmp_path)
    [target] = load_targets(["overlay"], [])
    [service] = target.manifests
    assert service.data["metadata"]["name"] == "prod-web"
    assert service.locate(("spec", "ports", 0, "port")).file.endswith("ops.yaml")
    assert service.locate(("metadata", "name")).line == 4  # base file


def test_stdin_that_is_not_utf8_is_a_clear_error_whatever_the_locale():
    # Found by tests/test_fuzz.py: with a UTF-8 locale Python's stdin raised UnicodeDecodeError,
    # in the C.UTF-8 locale it let the byte in as a surrogate that libyaml could not encode;
    # both ended as "internal error". stdin is now decoded like a file.
    stdin = io.TextIOWrapper(io.BytesIO(b"kind: ConfigMap\ndata: {a: \"\xff\"}\n"), encoding="utf-8")
    with pytest.raises(MoltgenError) as caught:
        load_targets(["-"], [], stdin=stdin)
    assert str(caught.value) == "<stdin>: not UTF-8 text (byte 27)"
    crlf = io.TextIOWrapper(io.BytesIO(MULTI.replace("\n", "\r\n").encode()), encoding="utf-8")
    [piped] = load_targets(["-"], [], stdin=crlf)
    assert [m.data["metadata"]["name"] for m in piped.manifests] == ["a", "b", "c"]
    assert piped.manifests[2].locate(("metadata", "name")).line == 14


def test_an_image_tag_set_by_an_overlay_images_entry_points_at_that_entry(tmp_path, monkeypatch):
    base = tmp_path / "base"
    base.mkdir()
    (base / "kustomization.yaml").write_text("resources: [deployment.yaml]\n")
    (base / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: gw, namespace: n}\nspec:\n"
        "  template:\n    spec:\n      containers:\n"
        "        - {name: gateway, image: 'ghcr.io/openclaw/openclaw:2026.8.1'}\n"
        "        - {name: sidecar, image: 'registry.local:5000/tools:1.0'}\n")
    overlay = tmp_path / "overlays" / "prod"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text(
        "resources: [../../base]\nimages:\n  - name: busybox\n    newTag: '1.36'\n"
        "  - name: ghcr.io/openclaw/openclaw\n    newTag: latest\n")
    monkeypatch.chdir(tmp_path)
    [target] = load_targets(["overlays/prod"], [])
    [deployment] = target.manifests
    containers = ("spec", "template", "spec", "containers")
    tag = deployment.locate(containers + (0, "image"))
    assert (tag.file, tag.line) == ("overlays/prod/kustomization.yaml", 6)  # the newTag line
    # an image no `images:` entry touches still points at the base
    sidecar = deployment.locate(containers + (1, "image"))
    assert (sidecar.file, sidecar.line) == ("base/deployment.yaml", 9)
