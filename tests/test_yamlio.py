import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from moltgen.core.errors import MoltgenError
from moltgen.core.yamlio.dump import dump_yaml
from moltgen.core.yamlio.parse import load_documents


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
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
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


# -- locations come from composing one document again: they must equal a full parse's -----------

def reference_locations(text: str) -> list[dict]:
    """Every path's (value, key) position, from PyYAML composing the whole stream at once."""
    import yaml

    def walk(node, path, out, key_node=None):
        out[path] = (node.start_mark.line + 1, node.start_mark.column + 1,
                     (key_node or node).start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                walk(v, path + (k.value,), out, k)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, path + (index,), out)
        return out

    return [walk(node, (), {}) for node in yaml.compose_all(text, Loader=yaml.SafeLoader)
            if node.value not in ("", "~")]  # empty documents are dropped


def located(doc, paths) -> dict:
    return {path: (doc.locate(path).line, doc.locate(path).column, doc.locate(path, key=True).line)
            for path in paths}


STREAMS = [
    "a:\n  b:\n    - x: 1\n      y: two\n",
    "--- {a: 1, b: [x, y]}\n--- \n   c: 1\n   d: {e: é}\n...\n---\n- 日本語: [1, 2]\n- z\n",
    "# leading comment\n\n---\nkind: A\nlist:\n- one\n- two: 2\n  three: |\n    text\n---\n---\nkind: B\n",
    "%TAG !e! tag:example.com,2000:\n--- !e!thing\na: 1\nb:\n  c: 2\n",
    "x: &anchor {k: v}\ny: *anchor\n",
]


@pytest.mark.parametrize("text", STREAMS)
def test_locations_equal_those_of_a_full_parse(text):
    documents = load_documents(text, "f.yaml")
    references = reference_locations(text)
    assert len(documents) == len(references)
    for doc, reference in zip(documents, references, strict=True):
        assert located(doc, reference) == reference


def test_a_large_stream_keeps_data_not_nodes():
    text = "".join(f"---\nkind: ConfigMap\nmetadata: {{name: cm-{i}}}\ndata: {{k: v}}\n"
                   for i in range(2000))
    from moltgen.core.yamlio.document import _compose_again

    _compose_again.cache_clear()
    documents = load_documents(text, "big.yaml")
    assert _compose_again.cache_info().currsize == 0  # nothing composed twice up front
    assert str(documents[1234].locate(("metadata", "name"))) == f"big.yaml:{1234 * 4 + 3}:18"
    assert str(documents[1234].locate(("data", "k"))) == f"big.yaml:{1234 * 4 + 4}:11"
    assert _compose_again.cache_info().misses == 1  # composed once, then reused
    for doc in documents[:100]:
        doc.locate(("kind",))
    assert _compose_again.cache_info().currsize <= 16  # and not kept for every document


# -- found by tests/test_fuzz.py ----------------------------------------------------------------

def test_integers_python_cannot_convert_and_bad_explicit_tags_are_located_errors():
    # int() refuses more than 4300 digits (ValueError), `!!int xyz` and `!!bool maybe` too.
    assert error_of("a: " + "1" * 5000 + "\n").startswith(
        "f.yaml:1:4: '11111111111111111111'... (5000 characters) is not an integer")
    assert error_of("a: 0x" + "f" * 5000 + "\n").startswith("f.yaml:1:4: '0xffff")
    assert error_of("a: !!int xyz\n") == "f.yaml:1:4: 'xyz' is not an integer of at most 3900 digits"
    assert error_of("b: !!bool maybe\n") == "f.yaml:1:4: 'maybe' is not true or false"
    assert error_of("c: !!float x\n") == "f.yaml:1:4: 'x' is not a number"
    assert error_of("!!int\n") == "f.yaml:1:1: '' is not an integer of at most 3900 digits"
    assert len(str(load_documents("a: " + "9" * 3900, "f")[0].data["a"])) == 3900


def test_characters_yaml_refuses_are_located_on_one_line():
    # libyaml's reader reports a byte offset and no mark; the message used to span two lines.
    assert error_of("é: é\n b: \x00\n") == (
        "f.yaml:2:5: YAML syntax error: unacceptable character #x0000: control characters are "
        "not allowed")


def test_undecodable_stdin_bytes_are_a_located_error():
    # stdin is read with surrogateescape: bytes that are not UTF-8 arrive as lone surrogates,
    # which libyaml cannot encode (UnicodeEncodeError).
    text = b"a: 1\nb: \xff\n".decode("utf-8", "surrogateescape")
    assert error_of(text) == "f.yaml:2:4: not UTF-8 text"


def test_a_stream_of_too_many_nodes_is_refused_while_composing(monkeypatch):
    # 32 MiB of `[x,x,...]` is 16 million nodes: minutes and gigabytes before the fix.
    from moltgen.core.yamlio import loader

    monkeypatch.setattr(loader, "MAX_STREAM_NODES", 1000)
    assert error_of("a: [" + "x," * 2000 + "]\n") == (
        "f.yaml:1: more than 1000 YAML nodes in one file; refused")
    assert error_of("---\na: 1\n" * 1000).startswith("f.yaml:667: ")  # where document 334 starts
    assert error_of("[" + "!!str x, " * 2000 + "]").endswith("refused")  # tags count too
    assert len(load_documents("a: [" + "x," * 900 + "]\n", "f")[0].data["a"]) == 900


def test_a_value_longer_than_any_kubernetes_object_is_refused(monkeypatch):
    from moltgen.core.yamlio import parse

    monkeypatch.setattr(parse, "MAX_SCALAR", 100)
    assert error_of("a: b\nc: " + "x" * 101 + "\n") == (
        "f.yaml:2:4: a value of 101 characters is more than the 100 moltgen reads (the "
        "Kubernetes API refuses any object over 3 MiB)")
    assert load_documents("a: " + "x" * 100, "f")[0].data == {"a": "x" * 100}


def test_no_path_resolvers_so_skipping_the_base_resolver_hooks_is_safe():
    from moltgen.core.yamlio.loader import _Loader

    assert not _Loader.yaml_path_resolvers


CORPUS = Path(__file__).parent / "corpus"
OWN = Path(__file__).parent.parent


def _corpus_streams() -> list[Path]:
    """Manifests other projects wrote (tests/corpus), and this repository's own rendered and
    sample YAML: every shape of block YAML the quick locator meets in practice."""
    files = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".yaml", ".yml"))
    files += sorted(p for d in ("base", "overlays", "gitops", "examples") if (OWN / d).is_dir()
                    for p in (OWN / d).rglob("*.yaml"))
    return files


def test_the_quick_locator_agrees_with_composing_on_every_key_of_real_manifests():
    """Locating a path of plain keys reads the lines instead of composing the document again;
    wherever it answers, it answers what composing does (the line and column of the value and
    of its key), and it answers most of the time."""
    from moltgen.core.yamlio.document import _quick_position

    answered = compared = 0
    for file in _corpus_streams():
        text = file.read_text(encoding="utf-8", errors="surrogateescape")
        try:
            documents = load_documents(text, file.name)
            references = reference_locations(text)
        except (MoltgenError, yaml.YAMLError, UnicodeEncodeError):
            continue  # the malformed shapes: nothing to locate
        for doc, reference in zip(documents, references, strict=True):
            for path, (line, column, key_line) in reference.items():
                if not path or not all(isinstance(part, str) for part in path):
                    continue
                compared += 1
                value = _quick_position(doc.span, path, False)
                at_key = _quick_position(doc.span, path, True)
                shift = doc.span.first_line + 1
                answered += value is not None or at_key is not None
                if value is not None:
                    assert (value[0] + shift, value[1] + 1) == (line, column), (file, path)
                if at_key is not None:
                    assert at_key[0] + shift == key_line, (file, path)
                assert located(doc, {path: None})[path] == (line, column, key_line), (file, path)
    print(f"quick locator: {answered} of {compared} paths")
    assert compared > 3000, compared
    assert answered > compared * 0.5, (answered, compared)


@settings(max_examples=500)
@given(st.lists(st.sampled_from(["---", "\n", "\r\n", "-", " ", "\t", "a", "#", "--- x", "\n---\n"]),
                max_size=30))
def test_document_markers_are_found_as_the_multiline_pattern_finds_them(pieces):
    """count_documents finds `---` lines with bytes.find, not the (slow) multiline regex that
    defines them; both must agree on every stream, including `---` at the start and end."""
    from moltgen.core.yamlio.stream import _MARKER, _markers

    data = "".join(pieces).encode()
    assert _markers(data) == [m.start() for m in _MARKER.finditer(data)]
