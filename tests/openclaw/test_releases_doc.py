"""docs/openclaw.md's tables of schema selection and shipped releases are what the code does."""

from __future__ import annotations

import gzip
import re

from support import REPO

from moltgen.openclaw.releases import release_key
from moltgen.openclaw.schema import SCHEMA_DIR, printed_schema, select_release, shipped_releases

SECTION = "## Which release's schema judges an image"
VERSION = re.compile(r"[0-9]{4}\.[0-9]+\.[0-9]+(?:-[0-9]+)?")


def tables() -> list[list[list[str]]]:
    text = (REPO / "docs" / "openclaw.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    found: list[list[list[str]]] = []
    for block in re.findall(r"(?:^\|.*\|\n)+", section, re.MULTILINE):
        rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in block.splitlines()]
        found.append(rows[2:])  # without the header and its rule
    return found


def test_the_selection_table_is_what_select_release_does():
    selection_rows = tables()[0]
    kinds = set()
    for tags, schema, said in selection_rows:
        named = VERSION.findall(schema)
        examples: list[str | None] = re.findall(r"`([^`]+)`", tags)
        if "no tag" in tags:
            examples.append(None)
        assert examples, tags
        for tag in examples:
            selection = select_release(tag)
            if schema == "none":
                assert selection.release is None and selection.error, tag
                assert said.startswith("an error at the tag's line"), tag
                kinds.add("error")
            else:
                assert selection.release in named, (tag, selection)
                expected = "warning" if selection.warning else "nothing"
                assert said.startswith({"warning": "a warning at the tag's line",
                                        "nothing": "nothing to say"}[expected]), tag
                kinds.add(expected)
    assert kinds == {"error", "warning", "nothing"}


def test_the_shipped_table_lists_every_shipped_release_in_order_with_its_sizes():
    shipped_rows = tables()[1]
    assert [row[0] for row in shipped_rows] == list(shipped_releases())
    assert [row[0] for row in shipped_rows] == sorted((row[0] for row in shipped_rows), key=release_key)
    for release, printed, stored in shipped_rows:
        assert int(printed.replace(",", "")) == len(printed_schema(release)), release
        assert int(stored.replace(",", "")) == (SCHEMA_DIR / f"{release}.json.gz").stat().st_size
        assert gzip.decompress((SCHEMA_DIR / f"{release}.json.gz").read_bytes())  # a real gzip


def test_the_pinned_and_the_newest_named_in_the_doc_are_the_ends_of_the_list():
    text = (REPO / "docs" / "openclaw.md").read_text(encoding="utf-8").split(SECTION, 1)[1]
    oldest, newest = shipped_releases()[0], shipped_releases()[-1]
    assert f"stable releases from {oldest} to its `latest`, {newest}" in text
