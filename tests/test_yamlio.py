import time

import pytest

from moltgen.errors import MoltgenError
from moltgen.yamlio import dump_yaml, load_documents


def error_of(text: str) -> str:
    with pytest.raises(MoltgenError) as caught:
        load_documents(text, "f.yaml")
    return str(caught.value)


def test_locates_values_and_keys():
    doc = load_documents("a:\n  b:\n    - x: 1\n      y: two\n", "f.yaml")[0]
    assert doc.data == {"a": {"b": [{"x": 1, "y": "two"}]}}
    assert str(doc.locate(("a", "b", 0, "y"))) == "f.yaml:4:10"
    assert str(doc.locate(("a", "b", 0, "y"), key=True)) == "f.yaml:4:7"
    # A path that does not exist is reported at its nearest ancestor.
    assert str(doc.locate(("a", "missing", "deeper"))) == "f.yaml:2:3"


def test_duplicate_keys_are_errors_not_silently_overwritten():
    assert error_of("a: 1\nb: 2\na: 3\n") == "f.yaml:3:1: duplicate key 'a'"


def test_tabs_get_a_message_that_says_tab():
    assert error_of("a:\n\tb: 1\n") == (
        "f.yaml:2:1: YAML syntax error: tab character where indentation is expected; "
        "YAML indents with spaces only")


def test_syntax_errors_are_located():
    assert error_of("a: [1, 2\n").startswith("f.yaml:2:1: YAML syntax error:")


def test_alias_bomb_is_refused_without_expanding():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for previous, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
    started = time.perf_counter()
    message = error_of("\n".join(lines) + "\n")
    assert "alias bomb" in message
    assert time.perf_counter() - started < 1.0  # 9**9 nodes would take minutes to build


def test_small_aliases_and_merge_keys_still_work():
    doc = load_documents("base: &b {x: 1}\nd:\n  <<: *b\n  y: 2\nl: *b\n", "f.yaml")[0]
    assert doc.data == {"base": {"x": 1}, "d": {"x": 1, "y": 2}, "l": {"x": 1}}


def test_dates_stay_text_and_unknown_tags_are_refused():
    assert load_documents("d: 2026-01-01\n", "f")[0].data == {"d": "2026-01-01"}
    assert "unsupported YAML tag '!ref'" in error_of("a: !ref x\n")


def test_complex_keys_and_deep_nesting_are_refused():
    assert "mapping key must be a plain value" in error_of("? [a]\n: 1\n")
    assert "YAML" in error_of("[" * 5000)


def test_multi_document_streams_drop_empty_documents():
    docs = load_documents("---\na: 1\n---\n---\nb: 2\n", "f.yaml")
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2}]
    assert [d.index for d in docs] == [0, 2]


def test_dump_is_deterministic_block_yaml_that_round_trips():
    data = {"z": "1", "a": "yes", "text": "line one\nline two\n", "list": [{"k": None}]}
    text = dump_yaml(data)
    assert text == dump_yaml(data)
    assert text.index("z:") < text.index("a:")  # key order kept, not sorted
    assert "text: |" in text
    assert load_documents(text, "f")[0].data == data
