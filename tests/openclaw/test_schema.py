"""OpenClaw's shipped config schemas: which release judges an image, and what they reject."""

from __future__ import annotations

import json

import pytest

from moltgen.openclaw.schema import (
    config_problems,
    image_tag,
    load_schema,
    printed_schema,
    release_for_tag,
    shipped_releases,
)

PINNED, NEWEST = "2026.7.1-2", "2026.9.6"


def test_the_pinned_and_the_newest_release_are_shipped():
    assert {PINNED, NEWEST} <= set(shipped_releases())
    for release in shipped_releases():
        schema = json.loads(printed_schema(release))
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
        assert schema["additionalProperties"] is False


@pytest.mark.parametrize("tag,release", [
    ("2026.7.1-2-slim", PINNED),
    ("2026.9.6-slim", NEWEST),
    ("v2027.1.1", NEWEST),
    ("2025.12.1", PINNED),       # older than every shipped release: check uses the oldest
    ("latest", NEWEST), (None, NEWEST),
])
def test_release_for_tag(tag, release):
    assert release_for_tag(tag) == release


def test_image_tag():
    assert image_tag("ghcr.io/openclaw/openclaw:2026.7.1-2-slim") == "2026.7.1-2-slim"
    assert image_tag("registry:5000/openclaw:1.2@sha256:" + "a" * 64) == "1.2"
    assert image_tag("registry:5000/openclaw") is None


@pytest.mark.parametrize("release", [PINNED, NEWEST])
def test_a_typo_is_named_with_a_suggestion(release):
    problems = config_problems({"gateway": {"prot": 18789, "controlUi": {"enabled": "yes"}}}, release)
    assert [(p.dotted, p.message) for p in problems] == [
        ("gateway.prot", "unknown field 'prot' (did you mean 'port'?)"),
        ("gateway.controlUi.enabled", '"yes" is not of type "boolean"'),
    ]


@pytest.mark.parametrize("release", [PINNED, NEWEST])
def test_defaults_are_not_required(release):
    # `openclaw config validate` accepts this on both releases; the printed schema lists
    # defaulted properties (groupPolicy, dmPolicy) as required.
    config = {"channels": {"discord": {"enabled": True, "token": "${DISCORD_BOT_TOKEN}"}},
              "plugins": {"entries": {"discord": {"enabled": True}}}}
    assert config_problems(config, release) == []


def test_embedded_plugin_schemas_resolve_their_own_definitions():
    # plugins.entries.webhooks.config refers to its own $defs as #/$defs/...; after loading
    # the reference is absolute, so a bad value there is reported instead of failing to compile
    schema = load_schema(PINNED)
    text = json.dumps(schema)
    assert '"$ref": "#/$defs/' not in text
    problems = config_problems({"plugins": {"entries": {"webhooks": {"config": {"routes": 5}}}}}, PINNED)
    assert problems and problems[0].path[:4] == ("plugins", "entries", "webhooks", "config")
