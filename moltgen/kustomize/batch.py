"""Many overlays built at once (a fleet's instances): every directory confined first, the
cached ones taken from the build cache, the rest built in concurrent chunks of one kustomize
run each, split back per overlay, and ordered as `kustomize build` orders them."""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from moltgen.core.errors import MoltgenError
from moltgen.core.shapes import mapping
from moltgen.kustomize import confine, ksops, library
from moltgen.kustomize.engine import BudgetSpent, Deadline, _child_env, _rendered, _run, engine_command

CHUNK = 32  # instances per kustomize run; see build_each


def build_all(directories: list[Path], on_built: Callable[[], None] | None = None, *,
              allow_remote: bool = False, deadline: Deadline | None = None) -> str:
    """Build many kustomization directories (a fleet's instances) into one stream: each
    directory's output as `kustomize build` prints it, in the order given."""
    return "---\n".join(text for text in build_parts(directories, on_built, allow_remote=allow_remote,
                                                       deadline=deadline) if text)


def build_parts(directories: list[Path], on_built: Callable[[], None] | None = None, *,
                allow_remote: bool = False, deadline: Deadline | None = None) -> list[str]:
    """Each directory's `kustomize build` output, in the order given. Every directory is
    confined before any is built, and all runs share one `deadline`. Unchanged overlays come
    from the build cache (moltgen.kustomize.buildcache). `on_built` is called once per directory."""
    return [text for text, _ in build_parts_keyed(directories, on_built, allow_remote=allow_remote,
                                                  deadline=deadline)]


def build_parts_keyed(directories: list[Path], on_built: Callable[[], None] | None = None, *,
                      allow_remote: bool = False,
                      deadline: Deadline | None = None) -> list[tuple[str, str | None]]:
    """build_parts, each output with the digest of its build's inputs (None: not cached).
    An overlay whose walks are remembered (moltgen.kustomize.walkmemo: nothing they looked at changed)
    is neither confined nor scanned again."""
    return build_groups_keyed([directories], on_built, allow_remote=allow_remote, deadline=deadline)[0]


def build_groups_keyed(groups: list[list[Path]], on_built: Callable[[], None] | None = None, *,
                       allow_remote: bool = False,
                       deadline: Deadline | None = None) -> list[list[tuple[str, str | None]]]:
    """build_parts_keyed of several groups (a project's environments) at once: every group is
    walked first, then whatever is missing is built in one set of concurrent runs, each run
    within one group (the same instance in two environments may repeat object ids)."""
    from moltgen.kustomize.buildcache import build_cached_keyed
    from moltgen.kustomize.inputs import InputScanner

    directories = [directory for group in groups for directory in group]
    group_of = {directory: number for number, group in enumerate(groups) for directory in group}
    deadline = deadline or Deadline()
    for directory in directories:
        _rendered(directory)
    memo, identity = walk_memo(allow_remote)
    roots = confine.repository_roots(directories)
    known = {directory: memo.get(directory, roots[directory]) for directory in directories}
    confine.check_kustomizations([d for d in directories if known[d] is None], allow_remote=allow_remote)
    scanner = InputScanner(identity)

    def inputs_of(directory: Path) -> Any:
        found = known.get(directory)
        if found is None:
            found = known[directory] = scanner.inputs(directory)
            memo.put(directory, roots[directory], found)
        return found
    env = _child_env(None, allow_remote)

    def build_missing(missing: list[Path], advance: Callable[[], None]) -> list[str]:
        return build_each(missing, advance, env=env, deadline=deadline, group_of=group_of.get,
                          offline=not allow_remote)

    built = build_cached_keyed(directories, build_missing, identity, on_built, inputs_of=inputs_of)
    apart, start = [], 0
    for group in groups:
        apart.append(built[start:start + len(group)])
        start += len(group)
    return apart


def walk_memo(allow_remote: bool) -> tuple[Any, str]:
    """The walk memo of this engine and reach, and the engine's identity (buildcache)."""
    from moltgen.kustomize.buildcache import engine_identity
    from moltgen.kustomize.walkmemo import WalkMemo

    reach = ("allow-remote",) if allow_remote else ("offline", *(
        library.identity() if library.wanted() else ()))
    identity = engine_identity(engine_command(), reach)
    return WalkMemo(identity), identity


def build_each(directories: list[Path], on_built: Callable[[], None] | None = None, *,
               env: dict[str, str] | None = None, deadline: Deadline | None = None,
               group_of: Callable[[Path], Any] | None = None, offline: bool = True) -> list[str]:
    """`kustomize build` of each directory, byte for byte, but far faster than one run each.

    kustomize's cost per directory depends on the company it is in: kubectl takes ~0.2 s of
    CPU just to start, so one run per instance is slow, while one tree holding every instance
    grows worse than linearly (measured per instance: 130 ms alone, 35-45 ms in a run of
    25-50, 87 ms in a run of 200; 500 instances did not finish in 300 s). So the directories
    are built up to CHUNK at a time, as many runs at once as there are cores, through a
    temporary kustomization that lists them in FIFO order with a boundary object after each;
    each directory's objects are then put in the order its own build prints them (see
    legacy_order). `on_built` is called once per directory. The directories are confined
    already (build_all). With `group_of`, a run holds the directories of one group only.
    `offline` (the default) runs them with no network (moltgen.kustomize.netns).
    """
    if not directories:
        return []
    env = env if env is not None else _child_env(None, False)
    deadline = deadline or Deadline()
    cores = os.cpu_count() or 1
    size = max(1, min(CHUNK, -(-len(directories) // cores)))  # every core gets a chunk
    if offline and library.wanted():
        size = 1  # the library's workers build one overlay in ~10 ms: no batching to undo
    chunks: list[list[Path]] = []
    for directory in directories:
        if not chunks or len(chunks[-1]) == size or (
                group_of is not None and group_of(directory) != group_of(chunks[-1][0])):
            chunks.append([])
        chunks[-1].append(directory)

    def build_chunk(chunk: list[Path]) -> list[str]:
        texts = _build_together(chunk, env, deadline, offline)
        if on_built is not None:
            for _ in chunk:
                on_built()
        return texts

    with ThreadPoolExecutor(max(1, min(len(chunks), cores))) as pool:
        return [text for texts in pool.map(build_chunk, chunks) for text in texts]


def _build_together(directories: list[Path], env: dict[str, str], deadline: Deadline,
                    offline: bool) -> list[str]:
    token = secrets.token_hex(8)
    boundaries = [f"apiVersion: moltgen.dev/v1\nkind: BuildBoundary\nmetadata:\n"
                  f"  name: boundary-{token}-{i}\n" for i in range(len(directories))]
    with tempfile.TemporaryDirectory(prefix="moltgen-build-") as temporary, \
            ksops.keyless(directories) as buildable:
        if len(directories) == 1:
            return [_run(directories[0], buildable[0], (), env, deadline, offline=offline)]
        # kustomize refuses absolute paths in resources; a relative one may climb out.
        resources = []
        for i, directory in enumerate(buildable):
            resources.append(os.path.relpath(directory.resolve(), temporary))
            resources.append(f"boundary-{i}.yaml")
            (Path(temporary) / f"boundary-{i}.yaml").write_text(boundaries[i], encoding="utf-8")
        (Path(temporary) / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "sortOptions:\n  order: fifo\nresources:\n"
            + "".join(f"- {json.dumps(r)}\n" for r in resources), encoding="utf-8")
        try:
            split = _split_at_boundaries(
                _run(Path(temporary), Path(temporary), (), env, deadline, offline=offline), boundaries)
        except BudgetSpent:
            raise
        except MoltgenError:
            split = None
        if split is not None:
            return split
        # kustomize's message names our temporary file, or a directory sets its own
        # sortOptions: build each on its own, so an error names the directory that fails.
        return [_run(directory, copy, (), env, deadline, offline=offline)
                for directory, copy in zip(directories, buildable, strict=True)]


def _split_at_boundaries(text: str, boundaries: list[str]) -> list[str] | None:
    """Each directory's documents, in kustomize's legacy order; None when the stream is not
    what was asked for (then the directories are built one by one)."""
    outputs: list[str] = []
    current: list[str] = []
    index = 0
    for document in split_documents(text):
        if index < len(boundaries) and document == boundaries[index]:
            ordered = legacy_order(current)
            if ordered is None:
                return None
            outputs.append("---\n".join(ordered))
            current, index = [], index + 1
        else:
            current.append(document)
    if index != len(boundaries) or current:
        return None
    return outputs


def split_documents(text: str) -> list[str]:
    """The documents of a stream as kustomize prints it: `---` lines between them."""
    documents: list[str] = []
    current: list[str] = []
    for line in text.splitlines(keepends=True):
        if line == "---\n" or line == "---":
            documents.append("".join(current))
            current = []
        else:
            current.append(line)
    documents.append("".join(current))
    return [document for document in documents if document]


# kustomize's legacy sort (api/internal/builtins/SortOrderTransformer.go, "DO NOT CHANGE"):
# kinds in these lists first / last, in this order; then by group, version and kind; then by
# kind.version.group|namespace|name. It is a total order on the objects of one build (kustomize
# refuses two objects with one id), so the objects of one directory keep the order its own
# build gives them when they are sorted apart from the others.
_ORDER_FIRST = ("Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition",
                "ServiceAccount", "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding",
                "ClusterRoleBinding", "ConfigMap", "Secret", "Endpoints", "Service", "LimitRange",
                "PriorityClass", "PersistentVolume", "PersistentVolumeClaim", "Deployment",
                "StatefulSet", "CronJob", "PodDisruptionBudget")
_ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
_TYPE_ORDER = {**{kind: i - len(_ORDER_FIRST) for i, kind in enumerate(_ORDER_FIRST)},
               **{kind: i + 1 for i, kind in enumerate(_ORDER_LAST)}}
_TOP_FIELD = re.compile(r"^(apiVersion|kind): ?(.*)$", re.MULTILINE)
_METADATA_FIELD = re.compile(r"^  (name|namespace): ?(.*)$", re.MULTILINE)
_METADATA_BLOCK = re.compile(r"^metadata:\n((?:[ \t].*\n?|\n)*)", re.MULTILINE)
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:-]*$")


def legacy_order(documents: list[str]) -> list[str] | None:
    keys = []
    for document in documents:
        key = _legacy_key(document)
        if key is None:
            return None
        keys.append(key)
    return [document for _, document in sorted(zip(keys, documents, strict=True), key=lambda pair: pair[0])]


def _legacy_key(document: str) -> tuple[int, str, str] | None:
    fields = _identity_fields(document)
    if fields is None:
        return None
    api_version, kind, namespace, name = fields
    if "/" in api_version:
        group, version = api_version.split("/", 1)
    elif api_version == "builtin":
        group, version = "builtin", ""
    else:
        group, version = "", api_version
    stable = "_".join((group or "~G", version or "~V", kind or "~K"))
    gvk = ".".join((kind or "[noKind]", version or "[noVer]", group or "[noGrp]"))
    return _TYPE_ORDER.get(kind, 0), stable, f"{gvk}|{namespace or '~X'}|{name or '~N'}"


def _identity_fields(document: str) -> tuple[str, str, str, str] | None:
    """apiVersion, kind, metadata.namespace and metadata.name, read off the printed text when
    they are plain words (they nearly always are), else parsed."""
    top = dict(_TOP_FIELD.findall(document))
    block = _METADATA_BLOCK.search(document)
    metadata = dict(_METADATA_FIELD.findall(block.group(1))) if block else {}
    values = (top.get("apiVersion", ""), top.get("kind", ""), metadata.get("namespace", ""),
              metadata.get("name", ""))
    if all(not value or _PLAIN.match(value) for value in values):
        return values
    from moltgen.core.yamlio.parse import load_documents

    try:  # quoted or unusual values: ask the YAML parser
        parsed = load_documents(document, "<kustomize build>")
    except MoltgenError:
        return None
    data = parsed[0].data if len(parsed) == 1 else None
    if not isinstance(data, dict):
        return None
    meta = mapping(data, "metadata")
    return (str(data.get("apiVersion") or ""), str(data.get("kind") or ""),
            str(meta.get("namespace") or ""), str(meta.get("name") or ""))
