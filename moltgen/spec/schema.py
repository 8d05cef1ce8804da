"""The JSON Schema of moltgen.yaml for editors (yaml-language-server) and the docs, with
OpenClaw's own schema embedded for `config`."""

from __future__ import annotations

import copy
from typing import Any

from moltgen.openclaw.schema import schema_at, shipped_releases, to_draft_2020_12
from moltgen.spec.model import Instance, Spec, SpecFile
from moltgen.spec.types import DNS_LABEL

SCHEMA_FILE = "moltgen.schema.json"
MODELINE = f"# yaml-language-server: $schema=./{SCHEMA_FILE}"


def json_schema() -> dict[str, Any]:
    """JSON Schema of moltgen.yaml for editors (yaml-language-server) and documentation."""
    schema = Spec.model_json_schema(by_alias=True)
    environment = copy.deepcopy(schema)
    environment.pop("required", None)
    environment.pop("$defs", None)
    environment["title"] = "Environment"
    environment["description"] = "Overrides for one environment; any key of the spec."
    schema["properties"]["environments"] = {
        "type": "object",
        "description": SpecFile.model_fields["environments"].description,
        "propertyNames": {"pattern": DNS_LABEL.pattern, "maxLength": 63},
        "additionalProperties": {"$ref": "#/$defs/Environment"},
    }
    schema["$defs"]["Environment"] = environment
    instance = Instance.model_json_schema(by_alias=True)
    instance["properties"]["overrides"] = {"$ref": "#/$defs/Environment"}
    schema["properties"]["instances"] = {"type": "array", "items": instance,
                                         "description": SpecFile.model_fields["instances"].description}
    schema["title"] = "moltgen spec"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    _embed_openclaw_schema(schema)
    return schema


def _embed_openclaw_schema(schema: dict[str, Any]) -> None:
    """`config` is openclaw.json: OpenClaw's own schema (the newest shipped release), so an
    editor completes and documents every OpenClaw option; render validates against the
    release of the spec's image."""
    release = shipped_releases()[-1]
    openclaw = to_draft_2020_12(schema_at(release, "#/$defs/OpenClawConfig"))
    openclaw.pop("$schema", None)
    openclaw["title"] = f"OpenClaw configuration (openclaw.json, OpenClaw {release})"
    schema["$defs"]["OpenClawConfig"] = openclaw
    reference = {"$ref": "#/$defs/OpenClawConfig",
                 "description": Spec.model_fields["config"].description}
    schema["properties"]["config"] = reference
    schema["$defs"]["Environment"]["properties"]["config"] = reference
