"""Reading moltgen.yaml as data: the base, each environment and each instance merged layer
on layer onto the defaults and validated as a whole, so an environment is just another complete
`Spec`; MoltgenError with one located problem per mistake."""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.shapes import mapping
from moltgen.core.yamlio.document import Document
from moltgen.core.yamlio.parse import load_documents, load_file
from moltgen.spec.model import Instance, Spec, SpecFile
from moltgen.spec.pins import pin_problems
from moltgen.spec.problems import Layer, dedupe, kind_of, problems_of
from moltgen.spec.project import Project, Target


def parse_project(path: str | Path = "moltgen.yaml", *, text: str | None = None) -> Project:
    """Read and validate a spec file (or `text`, as if it were that file) as data: its layers
    merged, each overlay's Spec typed; MoltgenError with one located problem per mistake.
    The cross-checks that need the renderer are moltgen.project.load_project's."""
    spec_path = Path(path)
    display = str(path)
    # A link planted as moltgen.yaml must not make render read (and quote) a file elsewhere.
    documents = (load_documents(text, display) if text is not None
                 else load_file(spec_path, display, confine_to=spec_path.parent))
    if not documents:
        raise MoltgenError(Problem("the spec is empty; `moltgen init` writes a starter spec",
                                   Location(display, 1, 1)))
    if len(documents) > 1:
        raise MoltgenError(Problem("the spec must be a single YAML document",
                                   documents[1].locate(())))
    document = documents[0]
    if not isinstance(document.data, dict):
        raise MoltgenError(Problem(
            f"the spec must be a mapping of keys to values, not a {kind_of(document.data)}",
            document.locate(())))
    raw = document.data
    problems: list[Problem] = []
    try:
        spec_file = SpecFile.model_validate({key: raw[key] for key in ("environments", "instances")
                                             if key in raw})
    except ValidationError as error:
        problems.extend(problems_of(error, document, []))
        spec_file = None
    # Like Helm values: what the file says is merged onto every default, so overriding one
    # field of a section (a memory limit) keeps the section's other defaults (the CPU limit).
    base_layer: Layer = ((), {k: v for k, v in raw.items() if k not in ("environments", "instances")})
    base_raw = deep_merge(spec_defaults(), base_layer[1])
    base = _validate(base_raw, document, [], problems)
    environments: dict[str, Spec] = {}
    targets: list[Target] = []
    if spec_file is not None:
        problems.extend(_instance_problems(spec_file.instances, document))
        problems.extend(_top_level_only(spec_file, document))
        for env, overrides in spec_file.environments.items():
            env_layer: Layer = (("environments", env), overrides or {})
            env_raw = deep_merge(_own_additions_only(base_raw), env_layer[1])
            spec = _validate(env_raw, document, [env_layer], problems)
            if spec is None:
                continue
            environments[env] = spec
            if not spec_file.instances:
                problems.extend(pin_problems(document, [base_layer, env_layer]))
                targets.append(Target(env, None, spec))
            for index, instance in enumerate(spec_file.instances):
                layer: Layer = (("instances", index, "overrides"), instance.overrides)
                instance_raw = _instance_defaults(
                    deep_merge(_own_additions_only(env_raw), instance.overrides), spec, instance)
                instance_spec = _validate(instance_raw, document, [env_layer, layer], problems)
                if instance_spec is not None:
                    problems.extend(pin_problems(document, [base_layer, env_layer, layer]))
                    targets.append(Target(env, instance, instance_spec))
        for env, spec in environments.items():
            if base is not None and spec.name != base.name:
                # Overlays patch the base's objects by name, so the name is the same everywhere.
                problems.append(Problem("cannot differ per environment (use `namespace`)",
                                        document.locate(("environments", env, "name")),
                                        f"environments.{env}.name"))
    if problems:
        raise MoltgenError(dedupe(problems))
    assert base is not None and spec_file is not None
    return Project(spec_path, document, base, environments, list(spec_file.instances), targets)


# Keys whose lists add to the layer below instead of replacing it: each layer's own objects and
# patches go into its own kustomization (moltgen.project.additions).
ADDITIVE_KEYS = ("extraResources", "patches")


def _own_additions_only(raw: dict[str, Any]) -> dict[str, Any]:
    return {**raw, **{key: [] for key in ADDITIVE_KEYS if key in raw}}


def has_additions(raw: dict[str, Any]) -> bool:
    """Whether any layer of the spec's data adds objects, patches or pod parts of its own."""
    layers = [raw, *(v for v in (raw.get("environments") or {}).values() if isinstance(v, dict)),
              *(mapping(i, "overrides") for i in raw.get("instances") or [])]
    return any(layer.get(key) for layer in layers for key in (*ADDITIVE_KEYS, "pod"))


# Sections that describe the repository, not a deployment: a layer below the top cannot differ.
TOP_LEVEL_ONLY = ("ci",)


def _top_level_only(spec_file: SpecFile, document: Document) -> list[Problem]:
    layers: list[tuple[tuple[str | int, ...], dict[str, Any]]] = [
        (("environments", env), overrides or {}) for env, overrides in spec_file.environments.items()]
    layers += [(("instances", index, "overrides"), instance.overrides)
               for index, instance in enumerate(spec_file.instances)]
    return [Problem("is set at the top level only (one repository has one set of CI files)",
                    document.locate((*path, key), key=True), ".".join(map(str, (*path, key))))
            for path, overrides in layers for key in TOP_LEVEL_ONLY if key in overrides]


def _instance_problems(instances: list[Instance], document: Document) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for index, instance in enumerate(instances):
        if instance.name in seen:
            problems.append(Problem(f"duplicate instance {instance.name!r}",
                                    document.locate(("instances", index, "name")),
                                    f"instances.{index}.name"))
        seen.add(instance.name)
        for fixed in ("name", "namespace"):
            if fixed in instance.overrides:
                problems.append(Problem(
                    "cannot be overridden: every instance keeps the spec's name and gets its own "
                    "namespace, <environment namespace>-<instance>",
                    document.locate(("instances", index, "overrides", fixed), key=True),
                    f"instances.{index}.overrides.{fixed}"))
    return problems


def _instance_defaults(raw: dict[str, Any], env_spec: Spec, instance: Instance) -> dict[str, Any]:
    """What makes instances independent: their own namespace and their own host name."""
    raw = dict(raw)
    raw["namespace"] = f"{env_spec.namespace}-{instance.name}"
    ingress = instance.overrides.get("ingress") or {}
    merged = raw.get("ingress") or {}
    # An override that is not a mapping (`ingress: [1]`) is left for validation to report.
    if env_spec.ingress.host and isinstance(ingress, dict) and isinstance(merged, dict) \
            and "host" not in ingress:
        raw["ingress"] = {**merged, "host": f"{instance.name}.{env_spec.ingress.host}"}
    return raw


@lru_cache(maxsize=1)
def _default_values() -> dict[str, Any]:
    required = {"name": "defaults", "namespace": "defaults"}
    values = Spec.model_validate(required).model_dump(by_alias=True)
    return {key: value for key, value in values.items() if key not in required}


def spec_defaults() -> dict[str, Any]:
    """Every default of the spec, as YAML data (a fresh copy)."""
    return copy.deepcopy(_default_values())


def deep_merge(base: Any, override: Any) -> Any:
    """`override` on top of `base`: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return override


def _validate(data: dict[str, Any], document: Document, layers: list[Layer],
              problems: list[Problem]) -> Spec | None:
    try:
        return Spec.model_validate(data)
    except ValidationError as error:
        problems.extend(problems_of(error, document, layers))
        return None
