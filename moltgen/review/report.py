"""`moltgen diff --base` as text, JSON or Markdown for a pull-request comment.

The Markdown opens with a summary (a table of the overlays that change, the findings the pull
request introduces and resolves); each overlay's field-by-field changes follow folded in
<details>. A comment on GitHub holds at most 65,536 characters, so the report comes in parts
that each stay under MARKDOWN_PART_LIMIT, every part a comment of its own; a long overlay is
continued in the next part rather than cut off. Nothing here sees a Secret value: the diff
carries "changed (masked)" in its place (moltgen.review.diff).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from moltgen.core.fieldpath import format_path
from moltgen.review.base import OverlayDiff, Review
from moltgen.review.diff import ObjectChange

GITHUB_COMMENT_LIMIT = 65_536
MARKDOWN_PART_LIMIT = 60_000  # room for the part's heading and the closing of what is open
_SIGN = {"added": "+", "removed": "-", "changed": "~"}


def _change_lines(change: ObjectChange) -> list[str]:
    lines = [f"{_SIGN[change.status]} {change.title}"]
    lines.extend(f"    {line}" for line in change.fields)
    return lines


def _counts(overlay: OverlayDiff) -> str:
    return ", ".join(f"{overlay.count(s)} {s}" for s in ("added", "removed", "changed") if overlay.count(s))


def _finding_line(finding: Any) -> str:
    o = finding.object
    where = f" at {format_path(finding.path)}" if finding.path else ""
    namespace = f" in {o.namespace}" if o.namespace else ""
    return f"{finding.severity.value} {finding.rule}: {o.kind} {o.name}{namespace}{where}: {finding.message}"


def render_text(review: Review) -> str:
    lines = [f"compared with {review.base}: {_summary(review)}"]
    for overlay in review.overlays:
        lines.append(f"{overlay.label}: {_counts(overlay)}")
        for change in overlay.changes:
            lines.extend(f"  {line}" for line in _change_lines(change))
    if review.findings_checked:
        lines.append(f"findings under {review.policy}: {len(review.introduced)} introduced, "
                     f"{len(review.resolved)} resolved")
        lines.extend(f"  + {_finding_line(f)}" for f in review.introduced)
        lines.extend(f"  - {_finding_line(f)}" for f in review.resolved)
    if review.policy_changed:
        lines.append("note: the pull request changes the policy; both sides are judged under the base's")
    return "\n".join(lines) + "\n"


def _summary(review: Review) -> str:
    if not review.overlays:
        what = "no built object changes"
    else:
        what = f"{len(review.overlays)} overlay(s) change"
    return f"{what} ({review.compared} rebuilt, {review.unchanged} unchanged inputs)"


def render_json(review: Review) -> str:
    from moltgen.check.report.json_report import _finding as finding_json

    data = {
        "version": 1,
        "base": review.base,
        "summary": {"overlays": len(review.overlays), "rebuilt": review.compared,
                    "unchanged": review.unchanged,
                    "introduced": len(review.introduced), "resolved": len(review.resolved)},
        "overlays": [{"environment": o.env, "instance": o.instance,
                      "objects": [{"kind": c.kind, "name": c.name, "status": c.status,
                                   "fields": list(c.fields)} for c in o.changes]}
                     for o in review.overlays],
        "findings": {"policy": review.policy, "policyChanged": review.policy_changed,
                     "checked": review.findings_checked,
                     "introduced": [finding_json(f) for f in review.introduced],
                     "resolved": [finding_json(f) for f in review.resolved]},
    }
    return json.dumps(data, indent=2) + "\n"


def render_markdown(review: Review, limit: int = MARKDOWN_PART_LIMIT) -> list[str]:
    """The report as comment-sized parts (one when it fits)."""
    head = ["### moltgen diff", "", f"Compared with `{review.base}`: {_summary(review)}.", ""]
    if review.overlays:
        head += ["| overlay | added | removed | changed |", "|---|---:|---:|---:|"]
        head += [f"| `{o.label}` | {o.count('added')} | {o.count('removed')} | {o.count('changed')} |"
                 for o in review.overlays]
        head.append("")
    if review.findings_checked:
        head.append(f"**Findings** under `{review.policy}`: {len(review.introduced)} introduced, "
                    f"{len(review.resolved)} resolved.")
        if review.policy_changed:
            head.append("The pull request changes the policy; both sides are judged under the base's.")
        head.append("")
        head += [f"- :x: introduced: {_escape(_finding_line(f))}" for f in review.introduced]
        head += [f"- :white_check_mark: resolved: {_escape(_finding_line(f))}" for f in review.resolved]
        head.append("")
    blocks = [(o, [line for c in o.changes for line in _change_lines(c)]) for o in review.overlays]
    return _paginate(head, blocks, limit)


def _escape(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|").replace("`", "\\`")


def _fence(lines: list[str]) -> str:
    """A code fence longer than any run of backticks in the lines, which cannot close it."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


def _paginate(head: list[str], blocks: list[tuple[OverlayDiff, list[str]]], limit: int) -> list[str]:
    """Lines into parts of at most `limit` characters; a block continues in the next part in
    a <details> and code fence of its own, so every part renders on its own."""
    parts: list[list[str]] = [[]]
    size = 0

    def fits(characters: int) -> bool:
        return size + characters <= limit

    def add(line: str) -> None:
        nonlocal size
        if not fits(len(line) + 1) and parts[-1]:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += len(line) + 1

    for line in head:
        add(_cut(line, limit // 2))
    for overlay, lines in blocks:
        fence = _fence(lines)
        title = f"<code>{html.escape(overlay.label)}</code>"
        opening = [f"<details><summary>{title}: {_counts(overlay)}</summary>", "", f"{fence}diff"]
        closing = [fence, "", "</details>"]
        overhead = _length(opening) + _length(closing)
        # a line longer than a part would have no part to go to
        pending = [_cut(line, limit - overhead - 200) for line in lines]
        while pending:
            if not fits(overhead + len(pending[0]) + 1):
                parts.append([])
                size = 0
            for line in opening:
                add(line)
            while pending and fits(_length(closing) + len(pending[0]) + 1):
                add(pending.pop(0))
            for line in closing:
                add(line)
            opening = [f"<details><summary>{title} (continued)</summary>", "", f"{fence}diff"]
    texts = ["\n".join(lines) + "\n" for lines in parts if lines]
    if len(texts) > 1:
        texts = [f"{text}\n<sub>moltgen diff, part {n} of {len(texts)}</sub>\n"
                 for n, text in enumerate(texts, 1)]
    return texts


def _length(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _cut(line: str, room: int) -> str:
    return line if len(line) <= room else line[:max(room - 20, 0)] + " ... (cut)"


FORMATS = ("text", "json", "markdown")


def diff_base(spec: Path, base: str | None, fmt: str, output_dir: Path | None, exit_code: bool,
              policy: Path | None, *, allow_remote: bool, timeout: float) -> int:
    """`moltgen diff --base`: run the review, print or write it; the exit code to end with."""
    from moltgen.core.errors import MoltgenError, Problem
    from moltgen.core.files import write_output
    from moltgen.core.progress import Progress
    from moltgen.review.base import review

    if fmt not in FORMATS:
        raise MoltgenError(Problem(f"unknown format {fmt!r} (use {', '.join(FORMATS)})", field="--format"))
    with Progress() as progress:
        result = review(spec, base, policy=policy, allow_remote=allow_remote, timeout=timeout,
                        progress=progress)
    if fmt == "markdown":
        parts = render_markdown(result)
    else:
        parts = [render_json(result) if fmt == "json" else render_text(result)]
    if output_dir is None:
        write_output("\n".join(parts), None)
    else:
        suffix = {"markdown": "md", "json": "json", "text": "txt"}[fmt]
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
            for stale in output_dir.glob(f"part-*.{suffix}"):  # a longer earlier report's tail
                stale.unlink()
        except OSError as exc:
            raise MoltgenError(Problem(f"cannot write: {exc.strerror}", field="--output-dir")) from None
        for number, text in enumerate(parts, 1):
            write_output(text, output_dir / f"part-{number}.{suffix}")
    return 1 if exit_code and result.overlays else 0
