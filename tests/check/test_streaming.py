"""The check streams: documents are parsed one by one as the file is read (moltgen.core.yamlio
stream_file), objects are checked and dropped (check.engine), and rules across objects see
every object of the target, also those that come after their subject."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from moltgen.check.catalog import load_catalog
from moltgen.check.engine import Engine
from moltgen.check.model import Manifest
from moltgen.check.targets import load_targets
from moltgen.core.errors import MoltgenError
from moltgen.core.yamlio import stream
from moltgen.core.yamlio.parse import load_documents
from moltgen.core.yamlio.stream import stream_documents, stream_file, text_blocks

from .conftest import NOW, check_text

STREAMS = {
    "plain": "a: 1\n---\nb: 2\n",
    "leading marker and comments": "# head\n---\n# about a\na: 1\n--- # next\nb: [1, 2]\n",
    "value on the marker line": "--- {a: 1}\n--- !!str text\n---\n- x\n",
    "directives": "%YAML 1.2\n---\na: 1\n...\n%YAML 1.2\n---\nb: 2\n",
    "end markers": "a: 1\n...\n---\nb: 2\n...\n",
    "marker-like lines inside scalars": "a: |\n  ---\n  ...\nb: '\n  --- x'\n---\nc: 3\n",
    "empty documents": "---\n---\na: 1\n---\n# only a comment\n---\nb: 2\n---\n",
    "crlf": "a: 1\r\n---\r\nb: 2\r\n",
    "no document": "# nothing\n\n",
    "a List": "kind: List\nitems:\n- kind: ConfigMap\n  metadata: {name: a}\n",
}


@pytest.mark.parametrize("name", STREAMS)
def test_streamed_documents_are_the_parsed_stream(name):
    text = STREAMS[name]
    whole = load_documents(text, "f.yaml")
    streamed = list(stream_documents(iter([text[:7], text[7:13], text[13:]]), "f.yaml"))
    assert [d.data for d in streamed] == [d.data for d in whole]
    for one, other in zip(whole, streamed, strict=True):
        for path in [(), ("a",), ("b",), ("c",), (0,), ("items", 0, "metadata")]:
            assert one.locate(path) == other.locate(path)


def test_an_error_in_a_later_document_names_its_line_in_the_file(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text("a: 1\n---\nb: 2\n---\nc: [\n")
    with pytest.raises(MoltgenError) as caught:
        list(stream_file(path))
    assert str(caught.value).startswith(f"{path}:6:")  # as the whole-stream parser says
    with pytest.raises(MoltgenError) as whole:
        load_documents(path.read_text(), str(path))
    assert str(caught.value) == str(whole.value)


def test_a_file_is_bounded_per_document_not_as_a_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "MAX_BYTES", 2_000)
    monkeypatch.setattr(stream, "_BLOCK", 512)
    documents = [f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\ndata: {{k: v}}\n"
                 for i in range(200)]  # 13 KB, over MAX_BYTES
    path = tmp_path / "many.yaml"
    path.write_text("---\n".join(documents))
    [target] = load_targets([str(path)], [])
    assert [m.data["metadata"]["name"] for m in target.stream()] == [f"c{i}" for i in range(200)]
    assert target.estimate == 200
    path.write_text(documents[0] + "---\ndata:\n" + "".join(f"  k{i}: {'v' * 40}\n" for i in range(60)))
    with pytest.raises(MoltgenError) as caught:
        list(stream_file(path))
    assert "this document is more than the 2000 bytes" in str(caught.value)
    assert str(caught.value).startswith(f"{path}:5:")  # its `---` line, where it starts


class Data(dict):
    """A manifest's data that can be watched for being freed."""


def test_checked_objects_are_dropped_as_the_check_goes():
    """Memory stays flat: while object 300 is read, the objects read before it are gone,
    rules across objects included (they keep compressed views, not the objects)."""
    references: list[weakref.ref[Data]] = []
    most = 0

    def stream():
        nonlocal most
        for i in range(300):
            kind = ("Deployment", "Service", "Ingress", "ConfigMap")[i % 4]
            data = Data(apiVersion="v1", kind=kind,
                        metadata={"name": f"o{i}", "namespace": f"ns{i // 4}"})
            references.append(weakref.ref(data))
            yield Manifest(data, lambda path: None, "t")
            if i % 50 == 49:
                gc.collect()
                most = max(most, sum(1 for r in references if r() is not None))

    result = Engine(load_catalog(), now=NOW).check(stream())
    assert result.objects == 300
    assert most <= 3


def test_a_rule_across_objects_sees_objects_that_come_after_its_subject():
    ingress = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: a}
spec:
  rules: [{host: x.example.com, http: {paths: [{path: /, pathType: Prefix,
    backend: {service: {name: web, port: {number: 80}}}}]}}]
"""
    service = """
apiVersion: v1
kind: Service
metadata: {name: web, namespace: a}
spec: {ports: [{port: 80}]}
"""
    for text in (ingress + "---" + service, service + "---" + ingress):
        assert not check_text(text, only=["ingress-backend-exists"]).findings
    other_namespace = service.replace("namespace: a", "namespace: b")
    [finding] = check_text(ingress + "---" + other_namespace, only=["ingress-backend-exists"]).findings
    assert finding.object.name == "web" and finding.location.line == 6  # spec.rules


def test_text_blocks_cover_the_text(monkeypatch):
    monkeypatch.setattr(stream, "_BLOCK", 3)
    assert "".join(text_blocks("abcdefgh")) == "abcdefgh"


def test_a_directory_of_files_streams_each(tmp_path: Path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n")
    [target] = load_targets([str(tmp_path)], [])
    assert [m.locate(("metadata", "name")).file.endswith(f"{m.data['metadata']['name']}.yaml")
            for m in target.stream()] == [True, True]
