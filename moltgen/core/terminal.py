"""Text from a pull request made safe to show on a terminal or in a CI log.

A manifest, a kustomization or a tool's stderr (kustomize, sops) is written by whoever opened
the pull request. Printed as it is, ESC/CSI/OSC sequences would drive the reader's terminal
(retitle it, hide lines, forge links), bidi controls would reorder what a reviewer reads, and a
line beginning `::` would be a GitHub Actions workflow command (`::add-mask::`, `::error::`,
`::stop-commands::`) run by the log. `safe` shows every such character as an escape instead.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 (ESC and CSI/OSC/DCS introducers among them), the
# line and paragraph separators, and the bidi embeddings, overrides and isolates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NEWLINE = re.compile("[\t\n]")
# A workflow command is `::` at the start of a line, after any leading whitespace.
_COMMAND = re.compile(r"^([ \t]*):(?=:)", re.MULTILINE)


def _shown(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}"


def safe(text: str, *, one_line: bool = False) -> str:
    """`text` with every control character shown (`\\x1b`, `\\u202e`) and no line able to
    start a workflow command (its first colon shown as `\\x3a`). With `one_line`, tab and
    newline are shown too."""
    text = _CONTROL.sub(_shown, text)
    if one_line:
        return _NEWLINE.sub(_shown, text)
    return _COMMAND.sub(lambda m: f"{m[1]}\\x3a", text)


def say(text: str, *, err: bool = False) -> None:
    """Print a message that may hold repository text (a path, a name, a tool's words): safe,
    to stdout or, with `err`, to stderr. Data meant for a pipe (`build`, `secrets get`) is
    written as it is, not through here."""
    import sys

    print(safe(text), file=sys.stderr if err else sys.stdout)
