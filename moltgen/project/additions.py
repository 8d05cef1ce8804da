"""Your own additions to what moltgen renders: `extraResources`, `patches` and `pod:`.

They live in the spec or beside it, so a re-render keeps them. Files they name are read when the
spec is loaded (render stays pure) and checked like the spec: a mistake is one located line in
the file where it was written. Each layer adds what it writes: the top level to `base/`, an
environment to its overlay, an instance to its own overlay (which also carries its
environment's additions: an instance's overlay is built on `base/` directly).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.yamlio.document import Document
from moltgen.core.yamlio.parse import load_file
from moltgen.kube.schemas import SchemaSet
from moltgen.kustomize import kustomization
from moltgen.render.additions import BASE, Additions, PatchSource, UserObject
from moltgen.render.objects import CONTAINER_NAME, render_container, render_objects, selector_labels
from moltgen.spec.model import Spec
from moltgen.spec.project import Project

# What render owns (moltgen.tree.MANAGED_DIRS): a user's file there would be a generated one's
# neighbour, and moving it in or out would change what render may delete.
_GENERATED_DIRS = ("base", "overlays", "gitops")

# `pod:` list fields and the upstream schema of each item (kubernetes-validate's type files).
POD_ITEM_TYPES = {"tolerations": "toleration-v1", "sidecars": "container-v1",
                  "initContainers": "container-v1", "env": "envvar-v1", "volumes": "volume-v1",
                  "volumeMounts": "volumemount-v1"}


def load_additions(project: Project) -> dict[str, Additions]:
    """`base` and each overlay directory → what it includes; MoltgenError listing every mistake."""
    problems: list[Problem] = []
    document = project.document
    root = project.root
    base = _layer(root, document, (), problems)
    result: dict[str, Additions] = {BASE: base}
    env_layers = {env: _layer(root, document, ("environments", env), problems)
                  for env in project.environments}
    instance_layers = [_layer(root, document, ("instances", index, "overrides"), problems)
                       for index in range(len(project.instances))]
    problems.extend(_conflicts(project, project.base, "", base, Additions()))
    for target in project.targets:
        additions = env_layers[target.environment]
        if target.instance is not None:
            additions = additions.extend(instance_layers[project.instances.index(target.instance)])
        result[target.directory] = additions
        problems.extend(_conflicts(project, target.spec, target.environment, base, additions))
    if problems:
        raise MoltgenError(_unique(problems))
    return result


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))  # a base mistake is found once per target


def _layer(root: Path, document: Document, prefix: tuple[Any, ...],
           problems: list[Problem]) -> Additions:
    raw = _at(document.data, prefix)
    additions = Additions()
    if not isinstance(raw, dict):
        return additions
    for index, item in enumerate(raw.get("extraResources") or []):
        where = (*prefix, "extraResources", index)
        try:
            if isinstance(item, dict):
                additions.objects.append(_user_object(item, document, where))
                continue
            path = _user_path(root, item, document.locate(where), ".".join(map(str, where)))
            if path.is_dir():
                if not any((path / name).is_file() for name in kustomization.FILE_NAMES):
                    raise MoltgenError(Problem(
                        "a folder needs its own kustomization.yaml (or list its files one by one)",
                        document.locate(where), _field(where)))
                additions.folders.append(path.relative_to(root.resolve()).as_posix())
                continue
            display = path.relative_to(Path.cwd()).as_posix() if path.is_relative_to(Path.cwd()) else str(path)
            for doc in load_file(path, display):
                additions.objects.append(_user_object(doc.data, doc, ()))
        except MoltgenError as error:
            problems.extend(error.problems)
    for index, item in enumerate(raw.get("patches") or []):
        where = (*prefix, "patches", index)
        target = item.get("target")
        try:
            if "patch" in item:
                additions.patches.append(PatchSource(item["patch"], target))
                continue
            path = _user_path(root, item["path"], document.locate((*where, "path")),
                              _field((*where, "path")))
            display = path.relative_to(Path.cwd()).as_posix() if path.is_relative_to(Path.cwd()) else str(path)
            docs = [doc.data for doc in load_file(path, display)]
            if not docs:
                raise MoltgenError(Problem("the patch file is empty", Location(display)))
            # Several strategic-merge documents in one file: one patch each, as kustomize does.
            additions.patches.extend(PatchSource(doc, target) for doc in docs)
        except MoltgenError as error:
            problems.extend(error.problems)
    pod = raw.get("pod")
    if isinstance(pod, dict):
        problems.extend(_pod_problems(pod, document, (*prefix, "pod")))
    return additions


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def _field(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path)


def _user_path(root: Path, text: str, location: Location, field_name: str) -> Path:
    relative = Path(text)
    if not text or relative.is_absolute():
        raise MoltgenError(Problem("must be a path relative to the spec's folder", location, field_name))
    top = root.resolve()
    path = (top / relative).resolve()  # symlinks resolved: a link cannot lead outside
    if not path.is_relative_to(top):
        raise MoltgenError(Problem("is outside the project (the spec's folder)", location, field_name))
    inside = path.relative_to(top).parts
    if not inside:
        raise MoltgenError(Problem("names the project itself; name a file or a folder in it",
                                   location, field_name))
    if inside[0] in _GENERATED_DIRS:
        raise MoltgenError(Problem(f"is inside {inside[0]}/, which render owns; keep your files "
                                   "beside it", location, field_name))
    if not path.exists():
        raise MoltgenError(Problem("no such file or folder", location, field_name))
    return path


def _user_object(data: Any, document: Document, path: tuple[Any, ...]) -> UserObject:
    field_name = _field(path) if path else None

    def fail(message: str, at: tuple[Any, ...]) -> MoltgenError:
        return MoltgenError(Problem(message, document.locate((*path, *at)), field_name))

    if not isinstance(data, dict):
        raise fail("expected a Kubernetes object (a mapping with apiVersion, kind and metadata)", ())
    for key in ("apiVersion", "kind"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise fail(f"the object needs {key}", ())
    metadata = data.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
        raise fail("the object needs metadata.name", ("metadata",))
    return UserObject(data, document, path)


def _pod_problems(pod: dict[str, Any], document: Document, prefix: tuple[Any, ...]) -> list[Problem]:
    """`pod:` items checked against the Kubernetes schemas, so `efect:` in a toleration is an
    error at its line when the spec is loaded, not when the cluster refuses the Deployment."""
    parts: list[tuple[str, tuple[Any, ...], Any]] = []
    for key, type_name in POD_ITEM_TYPES.items():
        items = pod.get(key)
        if isinstance(items, list):
            parts.extend((type_name, (key, index), item) for index, item in enumerate(items)
                         if isinstance(item, dict))
    if isinstance(pod.get("affinity"), dict):
        parts.append(("affinity-v1", ("affinity",), pod["affinity"]))
    if not parts:
        return []
    schemas = SchemaSet()
    problems = []
    for type_name, where, item in parts:
        for error in schemas.validate_part(type_name, item):
            path = (*prefix, *where, *error.path)
            message = error.message.split(": ", 1)[1] if error.message.startswith(
                f"{'.'.join(map(str, error.path))}: ") and error.path else error.message
            problems.append(Problem(message, document.locate(path, key=True), _field(path)))
    return problems


def _conflicts(project: Project, spec: Spec, env: str, base: Additions,
               additions: Additions) -> list[Problem]:
    """Additions that would clash with moltgen's own objects, containers, volumes or each other:
    kustomize refuses two objects of one name, and Kubernetes two containers of one name."""
    problems = []
    own = {(o["kind"], o["metadata"]["name"]) for o in render_objects(spec).values()}
    seen: dict[tuple[str, str], UserObject] = {}
    for user in [*base.objects, *additions.objects]:
        if user.key in own:
            problems.append(Problem(f"{user.key[0]} {user.key[1]!r} is one of moltgen's own objects; "
                                    "change it with `patches` or `pod:` instead", user.locate(())))
        elif user.key in seen and seen[user.key] is not user:
            problems.append(Problem(f"{user.key[0]} {user.key[1]!r} is added twice (also at "
                                    f"{seen[user.key].locate(())})", user.locate(())))
        seen.setdefault(user.key, user)
    pod = spec.pod

    def clash(path: tuple[str, ...], message: str) -> None:
        problems.append(Problem(message, project.locate_setting(env, path),
                                f"environments.{env}.{_field(path)}" if env else _field(path)))

    container = render_container(spec)
    names = [CONTAINER_NAME] + [str(c.get("name")) for c in [*pod.sidecars, *pod.init_containers]]
    for name in {n for n in names if names.count(n) > 1}:
        clash(("pod", "sidecars"), f"two containers are named {name!r} (the gateway is {CONTAINER_NAME!r})")
    reserved_volumes = {"state", "config", "tmp"}
    volume_names = [str(v.get("name")) for v in pod.volumes]
    for name in sorted({n for n in volume_names if n in reserved_volumes or volume_names.count(n) > 1}):
        clash(("pod", "volumes"), f"volume {name!r} is moltgen's own or listed twice")
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    for mount in pod.volume_mounts:
        if mount.get("mountPath") in mounts:
            clash(("pod", "volumeMounts"), f"{mount['mountPath']!r} is where moltgen mounts its own volume")
    env_names = {e["name"] for e in container["env"]}
    for variable in pod.env:
        if variable.get("name") in env_names:
            clash(("pod", "env"), f"{variable['name']!r} is set by moltgen (from the spec)")
    for label in pod.labels:
        if label in selector_labels(spec):
            clash(("pod", "labels"), f"{label!r} is a selector label; changing it would orphan the pod")
    return problems
