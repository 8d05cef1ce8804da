"""Maintainer command: ship Argo CD's CRD schemas (Application, ApplicationSet, AppProject).

    .venv/bin/python tools/argocd_schemas.py DIR_OR_FILE...     (make argocd-schemas)

Reads upstream CustomResourceDefinitions (argoproj/argo-cd `manifests/crds/*-crd.yaml` of the
release in RELEASE; a copy is kept in tests/corpus/argo-cd/, and tests/test_argocd_schemas.py
checks that the shipped files are what this command makes of it) and writes one JSON Schema per
served version to moltgen/kube/crds/argoproj.io/<kind>_<version>.json, in the layout of
`--schema-dir`. The conversion is the API server's structural-schema semantics made strict, as
for the built-in kinds: a field a schema does not list is an error (`additionalProperties:
false`) unless the CRD preserves unknown fields; `x-kubernetes-int-or-string` takes a string or
an integer; `nullable` admits null; `metadata` is Kubernetes' own ObjectMeta (the strict upstream schema
of Kubernetes OBJECT_META_VERSION, as the kubernetes-validate package ships it, references
inlined), with the `name` that `kubectl apply` needs. Descriptions are dropped (they are the
bulk of the files and never part of a verdict). A file that is not such a CRD stops it in one line, exit 2, before
anything is written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moltgen.kube.schemas import _upstream_root

RELEASE = "v3.5.1"
OBJECT_META_VERSION = "1.33"
GROUP = "argoproj.io"
OUT = Path(__file__).resolve().parent.parent / "moltgen" / "kube" / "crds" / GROUP
NAME = "tools/argocd_schemas.py"


class NotACrd(Exception):
    pass


def strict(node: Any) -> Any:
    """One openAPIV3Schema node as a JSON Schema with unknown fields forbidden."""
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "description" or key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: strict(child) for name, child in value.items()}
        else:
            out[key] = strict(value)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["type"] = ["integer", "string"]
    if "properties" in node and "additionalProperties" not in node \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def object_meta() -> dict[str, Any]:
    """Kubernetes' strict ObjectMeta schema, self-contained (the shipped files have no registry)."""
    root = _upstream_root() / f"v{OBJECT_META_VERSION}.0-local-strict"
    definitions = json.loads((root / "_definitions.json").read_text(encoding="utf-8"))["$defs"]

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(n) for n in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return inline(definitions[node["$ref"].rsplit("/", 1)[1]])
        return {k: inline(v) for k, v in node.items() if k not in ("description", "$schema", "$id")}

    meta = inline(json.loads((root / "objectmeta-meta-v1.json").read_text(encoding="utf-8")))
    meta["required"] = ["name"]
    meta["properties"]["name"] = {**meta["properties"]["name"], "type": "string", "minLength": 1}
    return meta


def schemas_of(crd: Any, source: str) -> dict[str, Any]:
    """{file name: JSON Schema} for each served version of one CRD."""
    if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition" \
            or (crd.get("spec") or {}).get("group") != GROUP:
        raise NotACrd(f"{source}: not a CustomResourceDefinition of {GROUP}")
    kind = crd["spec"]["names"]["kind"]
    found = {}
    for version in crd["spec"].get("versions") or []:
        schema = ((version.get("schema") or {}).get("openAPIV3Schema"))
        if not version.get("served") or not isinstance(schema, dict):
            continue
        api_version = f"{GROUP}/{version['name']}"
        body = strict(schema)
        properties = body.setdefault("properties", {})
        # The API server sets and checks these itself; a manifest must name its kind.
        properties["apiVersion"] = {"type": "string", "enum": [api_version]}
        properties["kind"] = {"type": "string", "enum": [kind]}
        properties["metadata"] = object_meta()
        body["required"] = sorted({*body.get("required", []), "apiVersion", "kind", "metadata"})
        found[f"{kind.lower()}_{version['name']}.json"] = {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": f"{kind} ({api_version})",
            "description": f"{NAME}: the openAPIV3Schema of argoproj/argo-cd {RELEASE} "
                           f"manifests/crds, unknown fields forbidden",
            **body,
        }
    return found


def render(paths: list[Path]) -> dict[str, bytes]:
    """{file name: bytes} the command writes, from the CRD files (or directories of them)."""
    files = sorted(f for p in paths for f in (sorted(p.glob("*-crd.yaml")) if p.is_dir() else [p]))
    out: dict[str, bytes] = {}
    for file in files:
        for crd in yaml.load_all(file.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader):
            for name, schema in schemas_of(crd, str(file)).items():
                out[name] = (json.dumps(schema, indent=1, sort_keys=True) + "\n").encode()
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(f"usage: {NAME} DIR_OR_FILE... (argoproj/argo-cd {RELEASE} manifests/crds)", file=sys.stderr)
        return 2
    try:
        produced = render([Path(a) for a in argv])
    except (OSError, yaml.YAMLError, NotACrd, KeyError, TypeError) as exc:
        print(f"{NAME}: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    if not produced:
        print(f"{NAME}: no {GROUP} CRD in {' '.join(argv)}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in produced.items():
        tmp = OUT / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(OUT / name)  # atomically: a reader never sees half a schema
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
