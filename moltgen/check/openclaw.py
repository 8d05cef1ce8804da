"""The parsed openclaw.json of a ConfigMap, for rules: CEL cannot parse a string, least of all JSON5.

OpenClaw reads its config as JSON5 (moltgen writes a `//` header line), so a rule that needs
`gateway.controlUi.allowedOrigins` gets it from the `openclaw` variable, computed once per
ConfigMap:

    {"key": "openclaw.json", "config": {...}, "error": "", "release": "2026.7.1-2",
     "problems": ["gateway.prot (line 7): unknown field 'prot' (did you mean 'port'?)"],
     "literalSecrets": ["gateway.auth.token (line 5)"]}

or `{}` when the object holds no OpenClaw config. A config that does not parse has `config: {}`
and the parser's message in `error`. `problems` is what OpenClaw's own schema (of `release`, the
target's image, moltgen/openclaw/schema.py) says is wrong; `literalSecrets` the secret-named
settings written as literal values instead of `${VAR}` substitutions or SecretRefs. Neither
holds a value from the file: only JSON paths and lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pyjson5

from moltgen.check.views import containers
from moltgen.openclaw.schema import config_problems, image_tag, release_for_tag

# The file names OpenClaw has read its config from, newest first.
CONFIG_KEYS = ("openclaw.json", "clawdbot.json", "moltbot.json")
MAX_PROBLEMS = 5  # a message lists the first ones; the rest are counted

# Settings that hold a credential, by key name (OpenClaw's schema accepts a SecretRef for each
# of these: token, botToken, appToken, apiKey, password, clientSecret, privateKey, ...).
_SECRET_KEY = re.compile(r"(?i)^.*(token|secret|password|passphrase|apikey|privatekey|encryptkey)$")
_MOLTBOT_IMAGE = re.compile(r"openclaw|clawdbot|moltbot")  # as macros.isMoltbotImage
_SUBSTITUTION = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*\}$")


def loads_json5(text: str) -> Any:
    """Parse JSON5 as OpenClaw does; ValueError with the line of the mistake."""
    try:
        return pyjson5.loads(text)
    except pyjson5.Json5Exception as exc:
        message = str(exc.args[0]) if exc.args else "invalid JSON5"
        near = re.search(r" near (\d+)", message)
        if near:
            line = text.count("\n", 0, int(near.group(1))) + 1
            message = f"line {line}: {message[:near.start()]}"
        raise ValueError(message) from None
    except RecursionError:  # `[[[[...` thousands deep
        raise ValueError("nested too deeply") from None


def openclaw_config(data: dict[str, Any], image_tag: str | None = None) -> dict[str, Any]:
    """The `openclaw` rule variable of a manifest (a ConfigMap holding an OpenClaw config),
    judged by the schema of the release `image_tag` selects (the newest without one)."""
    if data.get("kind") != "ConfigMap" or not isinstance(data.get("data"), dict):
        return {}
    key = next((k for k in CONFIG_KEYS if k in data["data"]), None)
    if key is None:
        return {}
    text = data["data"][key]
    text = text if isinstance(text, str) else ""
    release = release_for_tag(image_tag)
    view = {"key": key, "config": {}, "error": "", "release": release, "problems": [],
            "literalSecrets": []}
    try:
        config = loads_json5(text)
    except ValueError as exc:
        return {**view, "error": str(exc)}
    if not isinstance(config, dict):
        return {**view, "error": "the config is not an object"}
    lines = _KeyLines(text)
    problems = [f"{p.dotted} ({lines.of(p.path)}): {p.message}"
                for p in config_problems(config, release)]
    if len(problems) > MAX_PROBLEMS:
        problems = problems[:MAX_PROBLEMS] + [f"and {len(problems) - MAX_PROBLEMS} more"]
    secrets = [f"{'.'.join(map(str, path))} ({lines.of(path)})" for path in _literal_secrets(config)]
    return {**view, "config": config, "problems": problems, "literalSecrets": secrets}


def moltbot_image_tag(objects: Iterable[dict[str, Any]]) -> str | None:
    """The image tag of the first Moltbot container among `objects` (it picks the schema)."""
    for data in objects:
        for _, container in containers(data):
            image = container.get("image")
            if isinstance(image, str) and _MOLTBOT_IMAGE.search(image.split("@")[0].rsplit(":", 1)[0]):
                return image_tag(image)
    return None


def _literal_secrets(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and value and _SECRET_KEY.match(str(key)) \
                    and not _SUBSTITUTION.match(value):
                found.append((*path, key))
            elif isinstance(value, (dict, list)):
                found.extend(_literal_secrets(value, (*path, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_literal_secrets(value, (*path, index)))
    return found


class _KeyLines:
    """The line of a JSON path in the text: each key of the path is searched after the
    previous one (a key written as "k", 'k' or k followed by a colon). Good enough to point
    at; "line ?" when a key is not found (an index, or a key spelled with escapes)."""

    def __init__(self, text: str):
        self.text = text

    def of(self, path: tuple[Any, ...]) -> str:
        position = 0
        found = False
        for part in path:
            if isinstance(part, int):
                continue
            name = re.escape(str(part))
            match = re.compile(rf"""(?:"{name}"|'{name}'|(?<![\w$]){name})\s*:""").search(
                self.text, position)
            if not match:
                break
            position, found = match.end(), True
        return f"line {self.text.count(chr(10), 0, position) + 1}" if found else "line ?"
