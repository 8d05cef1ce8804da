"""Spec in, tree out: `render_tree` is pure (no I/O), so the same spec gives the same bytes.

`base/` is the top-level configuration. Each `overlays/<env>/` is derived: the objects the
environment should have are compared with what the base gives it after the overlay's own
transformers (namespace, labels, images), and the differences become strategic-merge patches.
"""

from __future__ import annotations

import hashlib
from typing import Any

from moltgen.core.yamlio.dump import dump_yaml
from moltgen.render.additions import BASE, Additions
from moltgen.render.ci import ci_files
from moltgen.render.gitops import NAMESPACE_FILE, namespace_manifest, render_gitops
from moltgen.render.objects import CONFIG_FILE, config_map_name, render_objects
from moltgen.render.openclaw import openclaw_json
from moltgen.render.patches import deletion_patch, strategic_merge_patch
from moltgen.render.renovate import RENOVATE_FILE, renovate_config
from moltgen.spec.model import Image, Spec
from moltgen.spec.project import Project, Target
from moltgen.tree import Tree, header

KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"
SECRET_FILE = "secret.enc.yaml"
KSOPS_GENERATOR_FILE = "secret-generator.yaml"


def render_tree(project: Project, secret_files: Tree | None = None) -> Tree:
    """Every generated file; `secret_files` are the encrypted Secrets (made by moltgen.secrets)."""
    secret_files = secret_files or {}
    files = _Files(project.spec_name)
    base = project.base
    base_objects = render_objects(base)
    for name, obj in base_objects.items():
        files.yaml(f"base/{name}", obj)
    files.json5(f"base/{CONFIG_FILE}", openclaw_json(base))
    base_kustomization: dict[str, Any] = {
        "apiVersion": KUSTOMIZE_API,
        "kind": "Kustomization",
        "resources": list(base_objects),
        "configMapGenerator": [{"name": config_map_name(base), "files": [CONFIG_FILE]}],
    }
    base_additions = project.additions.get(BASE)
    if base_additions:
        # The user's objects may leave their namespace out; moltgen's all carry the spec's.
        base_kustomization["namespace"] = base.namespace
        _add_user_additions(files, "base", base_kustomization, base_additions)
    files.yaml("base/kustomization.yaml", base_kustomization)
    for target in project.targets:
        secret = secret_files.get(f"{target.directory}/{SECRET_FILE}")
        _render_overlay(files, target, base, secret, project.additions)
    if project.instances:
        # `kustomize build overlays/<env>` (and `moltgen build <env>`) still gives the whole
        # environment: every instance.
        for env in project.environments:
            files.yaml(f"{project.overlay_dir(env)}/kustomization.yaml", {
                "apiVersion": KUSTOMIZE_API, "kind": "Kustomization",
                "resources": [target.instance.name for target in project.targets_of(env)
                              if target.instance]})
    for path, obj in render_gitops(project).items():
        files.yaml(path, obj)
    if project.base.gitops.engine == "argocd":
        files.json5(RENOVATE_FILE, renovate_config(project))  # image updates: moltgen.render.renovate
    files.tree.update(ci_files(project))  # the workflows of `ci:` (moltgen.render.ci)
    files.tree.update(secret_files)
    return dict(sorted(files.tree.items()))


def secret_checksum(encrypted: bytes) -> str:
    return hashlib.sha256(encrypted).hexdigest()[:16]


def _render_overlay(files: _Files, target: Target, base: Spec, secret: bytes | None,
                    project_additions: dict[str, Additions]) -> None:
    directory, spec = target.directory, target.spec
    images = image_override(base.image, spec.image)
    # What the base becomes after this overlay's transformers, before any patch: the images
    # transformer moves the container's image, not the base's pinned-image annotation, so a
    # changed image is patched into the annotation.
    transformed = base.model_copy(update={"namespace": spec.namespace,
                                          **({"image": spec.image} if images else {})})
    labels = target.overlay_labels
    start = render_objects(transformed, overlay_labels=labels, pinned_image=base.image.reference)
    built = render_objects(spec, overlay_labels=labels,
                           secret_checksum=secret_checksum(secret) if secret else None)
    resources = ["../" * directory.count("/") + "../base"]
    patches = []
    for name, obj in built.items():
        if name not in start:
            files.yaml(f"{directory}/{name}", obj)
            resources.append(name)
            continue
        patch = strategic_merge_patch(start[name], obj)
        if patch:
            patches.append(_patch_file(files, directory, patch))
    for name, obj in start.items():
        if name not in built:
            patches.append(_patch_file(files, directory, deletion_patch(obj)))
    generators: list[str] = []
    if secret is not None and spec.gitops.engine == "argocd":
        # Argo CD decrypts through KSOPS, a kustomize exec plugin run by the repo server.
        files.yaml(f"{directory}/{KSOPS_GENERATOR_FILE}", ksops_generator())
        generators.append(KSOPS_GENERATOR_FILE)
    elif secret is not None:
        resources.append(SECRET_FILE)  # Flux's kustomize-controller decrypts it after the build
    if spec.gitops.engine == "flux":
        files.yaml(f"{directory}/{NAMESPACE_FILE}", namespace_manifest(spec))
        resources.append(NAMESPACE_FILE)
    kustomization: dict[str, Any] = {
        "apiVersion": KUSTOMIZE_API,
        "kind": "Kustomization",
        "namespace": spec.namespace,
        "resources": resources,
        "labels": [{"pairs": labels, "includeSelectors": False,
                    "includeTemplates": True}],
    }
    if target.overlay_annotations:
        # The owner as written (an email) does not fit a label; kustomize's commonAnnotations
        # puts it on every object of the overlay, generated ones and pod templates included.
        kustomization["commonAnnotations"] = target.overlay_annotations
    if generators:
        kustomization["generators"] = generators
    if images:
        kustomization["images"] = [images]
    config = openclaw_json(spec)
    if config != openclaw_json(transformed):
        files.json5(f"{directory}/{CONFIG_FILE}", config)
        kustomization["configMapGenerator"] = [
            {"name": config_map_name(spec), "behavior": "replace", "files": [CONFIG_FILE]}]
    if patches:
        kustomization["patches"] = patches
    additions = project_additions.get(directory)
    if additions:
        _add_user_additions(files, directory, kustomization, additions)
    files.yaml(f"{directory}/kustomization.yaml", kustomization)


def _add_user_additions(files: _Files, directory: str, kustomization: dict[str, Any],
                        additions: Additions) -> None:
    """The user's objects (copied, each in its own file), folders (referenced, never written)
    and patches (after moltgen's, so they have the last word) in one kustomization."""
    resources = kustomization.setdefault("resources", [])
    up = "../" * (directory.count("/") + 1)
    for user in additions.objects:
        files.yaml(f"{directory}/{user.file_name}", user.data)
        resources.append(user.file_name)
    resources.extend(up + folder for folder in additions.folders)
    patches = kustomization.setdefault("patches", [])
    for index, source in enumerate(additions.patches, 1):
        path = f"patches/custom-{index}.yaml"
        files.yaml(f"{directory}/{path}", source.content)
        target = source.kustomize_target
        patches.append({"path": path, **({"target": target} if target else {})})
    if not patches:
        del kustomization["patches"]


def ksops_generator() -> dict[str, Any]:
    """KSOPS's generator (a KRM exec function: `kustomize build --enable-alpha-plugins
    --enable-exec`, as Argo CD's repo server is configured for it)."""
    return {
        "apiVersion": "viaduct.ai/v1",
        "kind": "ksops",
        "metadata": {"name": "secret-generator",
                     "annotations": {"config.kubernetes.io/function": "exec:\n  path: ksops\n"}},
        "files": [f"./{SECRET_FILE}"],
    }


def image_override(base: Image, image: Image) -> dict[str, str] | None:
    """The overlay's `images` entry, or None when the image is unchanged or the transformer
    cannot express the change (it can set a tag or digest but not remove one): then the
    container's image field is patched instead."""
    if image == base or (base.tag and not image.tag) or (base.digest and not image.digest):
        return None
    entry = {"name": base.repository}
    if image.repository != base.repository:
        entry["newName"] = image.repository
    if image.tag:
        entry["newTag"] = image.tag
    if image.digest:
        entry["digest"] = image.digest
    return entry


def _patch_file(files: _Files, directory: str, patch: dict[str, Any]) -> dict[str, Any]:
    """Write the patch and return its kustomization entry. The explicit target matches the
    object whatever its namespace; a patch without one only matches namespace-less objects."""
    kind, name = patch["kind"], patch["metadata"]["name"]
    path = f"patches/{kind.lower()}-{name}.yaml"
    files.yaml(f"{directory}/{path}", patch)
    return {"path": path, "target": {"kind": kind, "name": name}}


class _Files:
    """Collects generated files, each with the generated-by header."""

    def __init__(self, spec_name: str):
        self.spec_name = spec_name
        self.tree: Tree = {}

    def yaml(self, path: str, data: Any) -> None:
        self.tree[path] = (header(self.spec_name) + dump_yaml(data)).encode()

    def json5(self, path: str, text: str) -> None:
        # openclaw.json is read as JSON5, so a // comment is allowed where JSON has none.
        self.tree[path] = (header(self.spec_name, "//") + text).encode()
