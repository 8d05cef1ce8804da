"""OpenClaw's own JSON Schema of openclaw.json, one file per release, shipped as data.

`schemas/<release>.json.gz` is exactly what `openclaw config schema` printed for that release
(tools/openclaw_schema.py makes them). A spec or a manifest is judged against the schema of its
image (`select_release`): the tag's own release; else the newest shipped release before it,
with a warning; a tag older than every shipped release is an error (`check`, which judges
manifests, uses the oldest); a tag without a version, such as `latest`, gets the newest.

OpenClaw validates its config with its own code, not with this JSON Schema, and two things in
the printed schema do not compile as standard JSON Schema; `_normalize` repairs them when the
schema is loaded, so the stored file stays byte-for-byte what the release prints:
- plugin config schemas embedded under `plugins.entries.<id>.config` carry their own `$defs`
  and refer to them as `#/$defs/...`, relative to the embedded schema (they have no `$id`);
  the references are rewritten to absolute JSON pointers;
- some `pattern`s are JavaScript regexes using `\\0` (NUL), which Rust's regex engine spells
  `\\x00`;
- a property with a `default` is listed as `required` (the schema describes the parsed config,
  after defaults): OpenClaw accepts a config without it (`openclaw config validate` says
  valid for `channels.discord: {enabled: true}`, which the printed schema says lacks
  `groupPolicy`), so such properties are not required.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from moltgen.core.errors import closest  # the spec's own "did you mean"
from moltgen.openclaw.releases import ordered, release_key, release_of_tag

SCHEMA_DIR = Path(__file__).parent / "schemas"


@lru_cache(maxsize=1)
def shipped_releases() -> tuple[str, ...]:
    """Releases whose schema is shipped, oldest first (in publish order, releases.py)."""
    return tuple(ordered([p.name.removesuffix(".json.gz") for p in SCHEMA_DIR.glob("*.json.gz")]))


@dataclass(frozen=True)
class Selection:
    """Which shipped schema judges an image tag, and what to tell about it."""

    release: str | None  # None: the tag is older than every shipped schema
    warning: str | None = None  # the tag's own release is not shipped; `release` stands in
    error: str | None = None  # why there is no release


def select_release(tag: str | None) -> Selection:
    """The tag's own release when shipped; else the newest shipped one before it, with a
    warning; an error when the tag is older than every shipped one (a newer schema would
    reject settings the old gateway reads, or accept ones it refuses). A tag without a version
    (`latest`, none at all) is judged by the newest, silently: it runs whatever is newest."""
    releases = shipped_releases()
    own = release_of_tag(tag or "")
    key = release_key(own) if own else None
    if own is None or key is None:
        return Selection(releases[-1])
    if own in releases:
        return Selection(own)
    older = [r for r in releases if (release_key(r) or key) < key]
    if not older:
        return Selection(None, error=f"OpenClaw {own} is older than every config schema moltgen "
                                     f"ships (the oldest is {releases[0]}); use a newer image tag")
    return Selection(older[-1], warning=f"no config schema is shipped for OpenClaw {own}; "
                                        f"openclaw.json is validated against {older[-1]}, the "
                                        "newest shipped release before it")


def release_for_tag(tag: str | None) -> str:
    """The shipped release whose schema judges an image tag, for `check`: as select_release,
    but the oldest for a tag older than all (check reports on manifests, not on the spec)."""
    return select_release(tag).release or shipped_releases()[0]


def image_tag(image: str) -> str | None:
    """The tag of an image reference (`repo:tag@sha256:...`), or None."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def printed_schema(release: str) -> bytes:
    """The schema exactly as `openclaw config schema` printed it for `release`."""
    return gzip.decompress((SCHEMA_DIR / f"{release}.json.gz").read_bytes())


@lru_cache(maxsize=4)
def load_schema(release: str) -> dict[str, Any]:
    """The schema of `release`, normalized to compile as standard JSON Schema (draft-07)."""
    return schema_at(release, "#")


@lru_cache(maxsize=4)
def _printed(release: str) -> dict[str, Any]:
    """The schema as printed, parsed once (never modified: normalized copies are made)."""
    return json.loads(printed_schema(release))


def schema_at(release: str, root: str) -> dict[str, Any]:
    """The normalized schema of `release` for embedding at the JSON pointer `root` of another
    schema (moltgen.schema.json puts it under `config`): its references point there."""
    schema = json.loads(printed_schema(release))
    _normalize(schema, root, root=root)
    return schema


def to_draft_2020_12(node: Any) -> Any:
    """A draft-07 schema as draft 2020-12 (moltgen.schema.json's dialect): tuple `items`
    become `prefixItems`, and `additionalItems` the new `items`. In place; returns `node`."""
    if isinstance(node, list):
        for item in node:
            to_draft_2020_12(item)
    elif isinstance(node, dict):
        if isinstance(node.get("items"), list):
            node["prefixItems"] = node.pop("items")
            if "additionalItems" in node:
                node["items"] = node.pop("additionalItems")
        for value in node.values():
            to_draft_2020_12(value)
    return node


def _pointer_part(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1").replace("%", "%25")


_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\0(?![0-9])")


def _normalize(node: Any, pointer: str, defs_base: str | None = None, *, root: str) -> None:
    if isinstance(node, list):
        for index, item in enumerate(node):
            _normalize(item, f"{pointer}/{index}", defs_base, root=root)
        return
    if not isinstance(node, dict):
        return
    if "$defs" in node and pointer != root:
        defs_base = pointer
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and defs_base:
        node["$ref"] = defs_base + ref[1:]
    required = node.get("required")
    properties = node.get("properties")
    if isinstance(required, list) and isinstance(properties, dict):
        node["required"] = [name for name in required
                            if not (isinstance(properties.get(name), dict) and "default" in properties[name])]
    if isinstance(node.get("pattern"), str):
        node["pattern"] = _NUL_ESCAPE.sub(r"\1\\x00", node["pattern"])
    for key, value in node.items():
        if key == "patternProperties" and isinstance(value, dict):
            for pattern in list(value):
                fixed = _NUL_ESCAPE.sub(r"\1\\x00", pattern)
                if fixed != pattern:
                    value[fixed] = value.pop(pattern)
        if isinstance(value, (dict, list)):
            _normalize(value, f"{pointer}/{_pointer_part(key)}", defs_base, root=root)


PRUNE_DEPTH = 2


def validator(release: str, config: Any = None) -> Any:
    """The compiled validator of `release` for configs shaped like `config`.

    Compiling the whole schema (2.4 MB, every channel and plugin) takes about 0.4 s, paid by
    every moltgen run; a config names a few of its sections. So the schema is pruned to the
    keys `config` has in its first PRUNE_DEPTH levels (`gateway`, `channels.telegram`...),
    which judges that config exactly as the whole schema would (an absent key's schema
    cannot match anything; `additionalProperties` and `required` are kept), and each shape is
    compiled once per process."""
    return _validator(release, _shape(config, PRUNE_DEPTH) if config is not None else None)


def _shape(config: Any, depth: int) -> Any:
    if depth == 0 or not isinstance(config, dict):
        return None
    return tuple(sorted((str(key), _shape(value, depth - 1)) for key, value in config.items()))


@lru_cache(maxsize=64)
def _validator(release: str, shape: Any) -> Any:
    if shape is None:
        return jsonschema_rs.Draft7Validator(load_schema(release))
    # prune first, then normalize only what is left (a copy: the parsed schema stays as printed)
    schema = json.loads(json.dumps(_prune(_printed(release), shape)))
    _normalize(schema, "#", root="#")
    return jsonschema_rs.Draft7Validator(schema)


def _prune(schema: dict[str, Any], shape: Any) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, dict) or shape is None:
        return schema
    pruned = dict(schema)
    pruned["properties"] = {key: _prune(properties[key], sub) if isinstance(properties[key], dict)
                            else properties[key] for key, sub in shape if key in properties}
    return pruned


@dataclass(frozen=True)
class ConfigProblem:
    """One way a config does not match the schema: where (keys and indexes) and what."""

    path: tuple[str | int, ...]
    message: str

    @property
    def dotted(self) -> str:
        return ".".join(str(p) for p in self.path)


def config_problems(config: Any, release: str) -> list[ConfigProblem]:
    """What is wrong with `config` for `release`, shallowest first, one per location."""
    schema = _printed(release)  # property names, for "did you mean"
    problems: dict[tuple, ConfigProblem] = {}
    for error in validator(release, config).iter_errors(config):
        path = tuple(error.instance_path)
        kind = error.kind
        if type(kind).__name__ == "AdditionalProperties":
            allowed = _properties_at(schema, list(error.schema_path)[:-1])
            for key in kind.unexpected:
                message = f"unknown field {key!r}"
                suggestion = closest(key, allowed)
                if suggestion:
                    message += f" (did you mean {suggestion!r}?)"
                problems.setdefault((*path, key), ConfigProblem((*path, key), message))
        else:
            problems.setdefault(path, ConfigProblem(path, _short(error.message)))
    return sorted(problems.values(), key=lambda p: (len(p.path), [str(x) for x in p.path]))


def _properties_at(schema: dict[str, Any], schema_path: list[Any]) -> list[str]:
    node: Any = schema
    for part in schema_path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return []
    return list(node.get("properties", {})) if isinstance(node, dict) else []


def _short(message: str) -> str:
    """A validator message without the whole offending value (it may be long, or a secret)."""
    first = message.splitlines()[0] if message else "does not match the schema"
    first = re.sub(r"^(\{.*\}|\[.*\]|\".{40,}\") is", "the value is", first)
    return first if len(first) <= 300 else first[:280] + "..."
