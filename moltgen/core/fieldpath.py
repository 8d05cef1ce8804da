"""Paths to a field inside an object, and how findings write them:
`spec.template.spec.containers[0].image`, with keys that hold dots or slashes as `["a.b/c"]`."""

from __future__ import annotations

import re

FieldPath = tuple[str | int, ...]


def format_path(path: FieldPath) -> str:
    """`spec.template.spec.containers[0].image`; keys with dots or slashes as `["a.b/c"]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.match(str(part)):
            out += f'["{part}"]'
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out


def parse_path(text: str) -> FieldPath:
    """The inverse of format_path: `containers[0].resources.limits`, `data["a.json"]`."""
    parts: list[str | int] = []
    for match in _PATH_PART.finditer(text):
        if match["index"] is not None:
            parts.append(int(match["index"]))
        elif match["quoted"] is not None:
            parts.append(match["quoted"])
        else:
            parts.append(match["key"])
    if "".join(m.group(0) for m in _PATH_PART.finditer(text)).replace(".", "") != text.replace(".", ""):
        raise ValueError(f"not a field path: {text!r}")
    return tuple(parts)


_PLAIN_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")
_PATH_PART = re.compile(r'\[(?P<index>[0-9]+)\]|\["(?P<quoted>[^"]*)"\]|(?P<key>[^.\[\]"]+)')
