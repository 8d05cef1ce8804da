"""Offline schema validation: upstream Kubernetes schemas (from the kubernetes-validate wheel),
moltgen's own CRD schemas, and kubeconform-style `--schema-dir` trees, plus the API server's
checks of a pod spec that no schema expresses (podchecks).

Each schema is compiled once per (apiVersion, kind) with jsonschema-rs. Strict by default: the
upstream "-strict" variants forbid unknown fields, so `replcas` is an error, as `kubectl apply
--validate=strict` would make it.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from moltgen.core.errors import MoltgenError, Problem
from moltgen.core.fieldpath import FieldPath, format_path
from moltgen.kube.apis import ServedKinds
from moltgen.kube.podchecks import pod_spec_problems

SHIPPED_DIR = Path(__file__).parent / "crds"
# What Kubernetes accepts: group a DNS subdomain, version and lower-cased kind DNS-1035 labels.
_API_VERSION = re.compile(r"^(?:[a-z0-9][-a-z0-9.]{0,252}/)?[a-z][-a-z0-9]{0,62}$")
_KIND = re.compile(r"^[A-Za-z][-A-Za-z0-9]{0,62}$")
_DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"


@dataclass(frozen=True, slots=True)
class SchemaError:
    path: FieldPath
    message: str
    wrong_type: bool = False  # the value is not of the type the schema wants (rules skip it)


def _upstream_root() -> Path:
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise MoltgenError("the kubernetes-validate package is not installed (it ships the schemas)")
    return Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"


@lru_cache(maxsize=1)
def bundled_versions() -> tuple[str, ...]:
    """Kubernetes minor versions with bundled schemas, oldest first: ('1.25', ..., '1.37')."""
    found = set()
    for entry in _upstream_root().iterdir():
        match = re.match(r"^v(\d+)\.(\d+)\.\d+-local$", entry.name)
        if match:
            found.add((int(match[1]), int(match[2])))
    return tuple(f"{a}.{b}" for a, b in sorted(found))


def resolve_version(requested: str | None) -> str:
    versions = bundled_versions()
    if not requested:
        return versions[-1]
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.\d+)?$", requested.strip())
    if match is None or f"{match[1]}.{match[2]}" not in versions:
        raise MoltgenError(Problem(f"Kubernetes version {requested!r} has no bundled schemas "
                                   f"(available: {versions[0]} to {versions[-1]})",
                                   field="--kubernetes-version"))
    return f"{match[1]}.{match[2]}"


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


class SchemaSet:
    """Finds, compiles (once) and applies the schema of each (apiVersion, kind)."""

    def __init__(self, kubernetes_version: str | None = None, schema_dirs: tuple[Path, ...] = (),
                 *, strict: bool = True):
        self.version = resolve_version(kubernetes_version)
        self.strict = strict
        for directory in schema_dirs:
            if not directory.is_dir():
                raise MoltgenError(Problem("no such schema directory", field="--schema-dir"))
        self.dirs = (*schema_dirs, SHIPPED_DIR)
        self._validators: dict[tuple[str, str], Any] = {}
        self._registry: Any = None
        self._served: ServedKinds | None = None

    def unserved(self, api_version: str, kind: str) -> str | None:
        """Why this Kubernetes version would refuse an object with no schema (apis.ServedKinds)."""
        if self._served is None:  # read only when an object has no schema
            self._served = ServedKinds(_read_json(self._upstream_dir() / "_definitions.json"))
        return self._served.problem(api_version, kind)

    def validate(self, data: dict[str, Any]) -> list[SchemaError] | None:
        """Schema errors of one object; None when no schema is known for its kind."""
        api_version, kind = str(data.get("apiVersion") or ""), str(data.get("kind") or "")
        key = (api_version, kind)
        if key not in self._validators:
            self._validators[key] = self._compile(api_version, kind)
        validator = self._validators[key]
        if validator is None:
            return None
        if "sops" in data and kind == "Secret":
            data = {k: v for k, v in data.items() if k != "sops"}  # not part of the object
        try:
            errors = [_describe(error, kind) for error in validator.iter_errors(data)]
        except ValueError:  # jsonschema-rs takes JSON, where keys are text; YAML's `1:` is not
            path = _non_text_key(data, ())
            if path is None:
                raise
            return [SchemaError(path, f"{format_path(path[:-1]) or 'the object'}: key {path[-1]!r} "
                                      "is not text; quote it")]
        # The API server's own validation goes further than its OpenAPI schema.
        return errors + [SchemaError(path, message) for path, message in pod_spec_problems(data)]

    def validate_part(self, type_name: str, data: Any) -> list[SchemaError]:
        """Schema errors of one part of an object, by its upstream type file (`toleration-v1`,
        `container-v1`): how the spec's pod settings are checked before anything is rendered."""
        key = ("", type_name)
        if key not in self._validators:
            import jsonschema_rs

            path = self._upstream_dir() / f"{type_name}.json"
            self._validators[key] = jsonschema_rs.validator_for(
                _read_json(path), registry=self._upstream_registry())
        return [_describe(error, "") for error in self._validators[key].iter_errors(data)]

    def _compile(self, api_version: str, kind: str) -> Any:
        if not _API_VERSION.match(api_version) or not _KIND.match(kind):
            # Not a name Kubernetes allows (empty, a NUL, a `/..`, a name too long for a file
            # name): no schema file can be named after it.
            return None
        import jsonschema_rs

        group, version = _split_api_version(api_version)
        for directory in self.dirs:
            path = _find_in_dir(directory, group, kind, version)
            if path is not None:
                schema = _read_json(path)
                return jsonschema_rs.validator_for(schema)
        path = self._upstream_file(group, version, kind)
        if path is None:
            return None
        return jsonschema_rs.validator_for(_read_json(path), registry=self._upstream_registry())

    def _upstream_dir(self) -> Path:
        suffix = "-strict" if self.strict else ""
        return _upstream_root() / f"v{self.version}.0-local{suffix}"

    def _upstream_file(self, group: str, version: str, kind: str) -> Path | None:
        short = group.split(".")[0]
        name = f"{kind.lower()}-{short}-{version}.json" if group else f"{kind.lower()}-{version}.json"
        path = self._upstream_dir() / name
        if not path.is_file():
            return None
        gvks = _read_json(path).get("x-kubernetes-group-version-kind") or []
        if not any(g.get("group", "") == group and g.get("version") == version and g.get("kind") == kind
                   for g in gvks):
            return None  # e.g. apps.example.com/v1 Deployment is not apps/v1 Deployment
        return path

    def _upstream_registry(self) -> Any:
        if self._registry is None:
            import jsonschema_rs

            definitions = _read_json(self._upstream_dir() / "_definitions.json")
            self._registry = jsonschema_rs.Registry([(_DEFINITIONS_URI, definitions)])
        return self._registry


def _non_text_key(data: Any, path: FieldPath) -> FieldPath | None:
    """The path of the first mapping key that is not a string (a YAML int, bool, null...)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(key, str):
                return (*path, key)
            found = _non_text_key(value, (*path, key))
            if found is not None:
                return found
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found = _non_text_key(value, (*path, index))
            if found is not None:
                return found
    return None


def _find_in_dir(directory: Path, group: str, kind: str, version: str) -> Path | None:
    """kubeconform layout: {group}/{kind}_{version}.json (kind lower-case; core group: 'core')."""
    folder = directory / (group or "core")
    for name in (f"{kind.lower()}_{version}.json", f"{kind}_{version}.json"):
        if (folder / name).is_file():
            return folder / name
    return None


@lru_cache(maxsize=512)
def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MoltgenError(Problem(f"unreadable schema: {exc}", field=str(path))) from None


# Kinds of error where the value is of the wrong type (int-or-string fields are a oneOf/anyOf).
_WRONG_TYPE = frozenset({"Type", "OneOfNotValid", "OneOfMultipleValid", "AnyOf"})


def _describe(error: Any, kind: str) -> SchemaError:
    """The error as a path and what was expected. jsonschema's own messages quote the offending
    value, which may be a Secret value, an API key in `env` or an object's whole content: a
    message here names paths, types and allowed values, never what the object holds."""
    path: FieldPath = tuple(error.instance_path)
    name = type(error.kind).__name__
    where = format_path(path) or "the object"
    if name == "AdditionalProperties":
        unexpected = [str(u) for u in getattr(error.kind, "unexpected", []) or []]
        if len(unexpected) == 1:
            return SchemaError(path + (unexpected[0],), f"unknown field {unexpected[0]!r}")
        return SchemaError(path, f"unknown fields {', '.join(map(repr, unexpected))}")
    if name == "Required":
        missing = getattr(error.kind, "property", None)
        if isinstance(missing, str):
            return SchemaError(path, f"missing required field {missing!r}")
    return SchemaError(path, f"{where}: {_expected(error, name)}", name in _WRONG_TYPE)


def _expected(error: Any, name: str) -> str:
    kind, instance = error.kind, error.instance
    got = _type_name(instance)
    if name == "Type":
        types = [t for t in _as_list(getattr(kind, "types", ())) if t != "null"]
        return f"expected {' or '.join(types) or 'another type'}, got {got}"
    if name in ("OneOfNotValid", "OneOfMultipleValid", "AnyOf"):
        return f"{got} is not an allowed type here"
    if name == "Enum":
        options = _as_list(getattr(kind, "options", ()))
        shown = ", ".join(repr(o) for o in options[:10] if isinstance(o, (str, int, float, bool)))
        return f"must be one of {shown}" if shown else "not an allowed value"
    if name == "Pattern":
        return f"does not match the pattern {getattr(kind, 'pattern', '')!r}"
    if name in ("Minimum", "ExclusiveMinimum", "Maximum", "ExclusiveMaximum", "MinLength",
                "MaxLength", "MinItems", "MaxItems", "MinProperties", "MaxProperties"):
        words = {"Minimum": "must be at least", "ExclusiveMinimum": "must be greater than",
                 "Maximum": "must be at most", "ExclusiveMaximum": "must be less than",
                 "MinLength": "must have at least {} characters",
                 "MaxLength": "must have at most {} characters",
                 "MinItems": "must have at least {} items", "MaxItems": "must have at most {} items",
                 "MinProperties": "must have at least {} keys",
                 "MaxProperties": "must have at most {} keys"}[name]
        limit = getattr(kind, "limit", "")
        return words.format(limit) if "{}" in words else f"{words} {limit}"
    if name == "Format":
        return f"not a valid {getattr(kind, 'format', 'value')}"
    return f"invalid {got} ({name})"


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value] if value not in (None, "") else []


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
               (list, "array"), (dict, "object"))


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return next((name for python, name in _JSON_TYPES if isinstance(value, python)),
                type(value).__name__)
