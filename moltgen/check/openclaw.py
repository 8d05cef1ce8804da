"""The parsed openclaw.json of a ConfigMap, for rules: CEL cannot parse a string, least of all JSON5.

OpenClaw reads its config as JSON5 (moltgen writes a `//` header line), so a rule that needs
`gateway.controlUi.allowedOrigins` gets it from the `openclaw` variable, computed once per
ConfigMap: `{"key": "openclaw.json", "config": {...}, "error": ""}`, or `{}` when the object
holds no OpenClaw config. A config that does not parse has `config: {}` and the parser's message
in `error` (rule moltbot-config-valid reports it).
"""

from __future__ import annotations

import json
import re
from typing import Any

# The file names OpenClaw has read its config from, newest first.
CONFIG_KEYS = ("openclaw.json", "clawdbot.json", "moltbot.json")

# The JSON5 that config files use, rewritten to JSON: comments, trailing commas, single-quoted
# strings and unquoted keys. (Hex numbers, leading '+' and multi-line strings are not needed.)
_TOKEN = re.compile(r"""
    (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<double>"(?:\\.|[^"\\])*")
  | (?P<single>'(?:\\.|[^'\\])*')
  | (?P<ident>[A-Za-z_$][\w$]*)(?=\s*(?:(?://[^\n]*|/\*.*?\*/)\s*)*:)
  | (?P<comma>,)(?=\s*(?:(?://[^\n]*|/\*.*?\*/)\s*)*[}\]])
  | (?P<other>[^"'/,A-Za-z_$]+|.)
""", re.S | re.X)


def loads_json5(text: str) -> Any:
    """Parse the JSON5 subset config files use; raises ValueError with a line number."""
    out = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        token = match.group(0)
        if kind == "comment":
            out.append(" " if token.startswith("//") else re.sub(r"[^\n]", " ", token))
        elif kind == "single":
            out.append(json.dumps(json.loads('"' + token[1:-1].replace("\\'", "'").replace('"', '\\"') + '"')))
        elif kind == "ident":
            out.append(json.dumps(token))
        elif kind == "comma":
            out.append(" ")
        else:
            out.append(token)
    try:
        return json.loads("".join(out))
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {exc.lineno}: {exc.msg}") from None
    except RecursionError:  # `[[[[...` thousands deep
        raise ValueError("nested too deeply") from None


def openclaw_config(data: dict[str, Any]) -> dict[str, Any]:
    """The `openclaw` rule variable of a manifest (a ConfigMap holding an OpenClaw config)."""
    if data.get("kind") != "ConfigMap" or not isinstance(data.get("data"), dict):
        return {}
    key = next((k for k in CONFIG_KEYS if k in data["data"]), None)
    if key is None:
        return {}
    text = data["data"][key]
    try:
        config = loads_json5(text if isinstance(text, str) else "")
    except ValueError as exc:
        return {"key": key, "config": {}, "error": str(exc)}
    if not isinstance(config, dict):
        return {"key": key, "config": {}, "error": "the config is not an object"}
    return {"key": key, "config": config, "error": ""}
