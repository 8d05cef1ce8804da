"""The one kustomization reader (moltgen.kustomize.kustomization) reports exactly what the real
kustomize opens and requests: each kustomization below is built with `kubectl kustomize` under
strace (tests/kustomize/tracing.py) with no proxy, and a server on 127.0.0.1 counts requests.

The corpus: field names in other cases (`Resources:`), folded by Unicode (`reſources:`, U+017F
folds to S in Go's encoding/json), nested struct fields folded (`Patches: [{Path: ...}]`),
`OpenAPI:`, aliases, inline patches and plugins beside paths, and entries holding ": " that
kustomize reads as URLs. For each one accepted, the files under the repository that kustomize
opened equal the kustomization files and references the reader reports, and it made a request
exactly when the reader reports a URL. Those refused (kustomize would read something else
than one of two doubled keys, or a field it does not know) are refused at their line."""

from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path

import pytest

from moltgen.core.errors import MoltgenError
from moltgen.kustomize import kustomization
from moltgen.kustomize.kustomization import FILE, PLUGIN, RESOURCE

from .tracing import available, traced_build


@pytest.fixture(autouse=True)
def _strace_is_here():
    """Never skipped: `make test` installs strace (make system-deps)."""
    assert available(), "strace is missing: run `make system-deps`"

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n"
GENERATOR = "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: g\nliterals: [a=b]\n"
PATCH = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\ndata:\n  patched: 'yes'\n"


class Counter:
    """HTTP on 127.0.0.1: answers a GET with a ConfigMap patch (under /g: a builtin generator's
    configuration), and counts the requests."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                body = (GENERATOR if self.path.startswith("/g") else PATCH).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def counter():
    server = Counter()
    yield server
    server.close()


BASE = {"base/kustomization.yaml": "resources:\n- one.yaml\n", "base/one.yaml": CM.format(name="one")}

# name -> files of the overlay `repo/o` (plus BASE); PORT is the counting server's port
ACCEPTED = {
    "upper-case field": {"o/kustomization.yaml": "Resources:\n- ../base\n- two.yaml\n",
                         "o/two.yaml": CM.format(name="two")},
    "unicode-folded field": {"o/kustomization.yaml": "re\u017fources:\n- ../base\n",},
    "all capitals and Kelvin": {"o/kustomization.yaml": "RESOURCES:\n- ../base\n"
                                                      "\u212aind: Kustomization\n"},
    "nested fields folded": {"o/kustomization.yaml": "resources: [../base]\nPatches:\n- Path: p.yaml\n",
                             "o/p.yaml": PATCH},
    "openapi upper-case": {"o/kustomization.yaml": "resources: [../base]\nOpenAPI:\n  path: schema.json\n",
                           "o/schema.json": '{"definitions": {}}\n'},
    "aliases": {"o/kustomization.yaml": "resources: [../base]\npatches:\n- path: &p p.yaml\n"
                                        "patchesStrategicMerge:\n- *p\n", "o/p.yaml": PATCH},
    "inline and path strategic merge": {
        "o/kustomization.yaml": "resources: [../base]\npatchesStrategicMerge:\n- p.yaml\n- |\n"
                                + "".join("  " + line + "\n" for line in PATCH.splitlines()),
        "o/p.yaml": PATCH},
    "url strategic merge with ': '": {
        "o/kustomization.yaml": "resources: [../base]\npatchesStrategicMerge:\n"
                                "- 'http://127.0.0.1:PORT/x#: x'\n"},
    "url generator with ': '": {
        "o/kustomization.yaml": "resources: [../base]\ngenerators:\n- 'http://127.0.0.1:PORT/g#: x'\n"},
    "transformer file relative to the kustomization": {
        "o/kustomization.yaml": "resources: [../base]\ntransformers:\n- deep/er/t.yaml\n",
        "o/deep/er/t.yaml": "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: t\n"
                            "Path: p.yaml\n",
        "o/p.yaml": PATCH},
    "inline transformer": {
        "o/kustomization.yaml": "resources: [../base]\ntransformers:\n- |\n  apiVersion: builtin\n"
                                "  kind: PatchTransformer\n  metadata:\n    name: t\n  path: p.yaml\n",
        "o/p.yaml": PATCH},
    "generator files and envs folded": {
        "o/kustomization.yaml": "configMapGenerator:\n- Name: g\n  FILES: [k=data.txt]\n  Envs: [e.env]\n",
        "o/data.txt": "x\n", "o/e.env": "A=1\n"},
    "components and replacements": {
        "o/kustomization.yaml": "resources: [../base]\ncomponents: [../comp]\n",
        "comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                                   "Replacements:\n- path: r.yaml\n",
        "comp/r.yaml": "source: {kind: ConfigMap, name: one, fieldPath: data.a}\n"
                       "targets:\n- select: {kind: ConfigMap, name: one}\n  fieldPaths: [data.c]\n"
                       "  options: {create: true}\n"},
    "crds and configurations": {
        "o/kustomization.yaml": "resources: [../base]\nCrds: [crd.yaml]\nconfigurations: [c.yaml]\n",
        "o/crd.yaml": "{}\n",  # kustomize's crds are OpenAPI definitions, not CRD objects
        "o/c.yaml": "namePrefix:\n- path: metadata/name\n"},
}

REFUSED = {
    "two keys folding to one field": ("resources:\n- ../base\nResources:\n- ../elsewhere\n", 3),
    "unknown field": ("resources: [../base]\nresourcez: [x.yaml]\n", 2),
    "many lines that are no objects": ("patchesStrategicMerge:\n- |\n  a\n  b\n", 2),
    "nested field doubled": ("patches:\n- path: a.yaml\n  PATH: b.yaml\n", 3),
    "a value of the wrong shape": ("resources: ../base\n", 1),
}


def _write(root: Path, files: dict[str, str], port: int) -> None:
    for name, text in {**BASE, **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("PORT", str(port)), encoding="utf-8")


def reach(directory: Path) -> tuple[set[Path], set[str]]:
    """The files and URLs the reader says a build of `directory` reads."""
    files, urls = set(), set()
    for found in kustomization.walk(directory):
        files.add(found.file.resolve())
        references = list(found.references)
        for reference in found.references:
            if reference.kind == PLUGIN and not reference.inline and kustomization.resolve(reference).is_file():
                references += kustomization.plugin_file_entries(found, reference,
                                                                kustomization.resolve(reference))[0]
        for reference in references:
            if reference.inline:
                continue
            if reference.value.startswith("http://"):
                urls.add(reference.value)
            elif reference.kind in (FILE, RESOURCE, PLUGIN):
                path = kustomization.resolve(reference)
                if path.is_file():
                    files.add(path.resolve())
    return files, urls


def _offline_free_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_the_reader_reports_what_kustomize_opens_and_requests(name, tmp_path, counter):
    repo = tmp_path / "repo"
    _write(repo, ACCEPTED[name], counter.port)
    files, urls = reach(repo / "o")
    trace = traced_build(repo / "o", tmp_path / "strace.log", _offline_free_env())
    assert trace.returncode == 0, trace.stderr
    opened = {path for path in trace.opened if repo.resolve() in path.parents}
    assert opened == files
    assert bool(counter.hits) == bool(urls) == (counter.port in trace.ports)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_the_reader_cannot_classify_is_refused_at_its_line(name, tmp_path):
    text, line = REFUSED[name]
    _write(tmp_path, {"o/kustomization.yaml": text}, 0)
    with pytest.raises(MoltgenError) as caught:
        kustomization.read(tmp_path / "o")
    problem = caught.value.problems[0]
    assert problem.location is not None and problem.location.line == line, str(caught.value)
    assert problem.location.file.endswith("kustomization.yaml")


def test_kustomize_keeps_one_of_two_folded_keys_by_byte_order(tmp_path):
    """Why two keys naming one field are refused: kustomize silently keeps one, and not the
    one written last (YAML to JSON sorts the keys, so `resources` beats `Resources`)."""
    _write(tmp_path, {"o/kustomization.yaml": "resources: [two.yaml]\nResources: [../base]\n",
                      "o/two.yaml": CM.format(name="two")}, 0)
    trace = traced_build(tmp_path / "o", tmp_path / "strace.log")
    assert trace.returncode == 0 and "name: two" in trace.stdout and "name: one" not in trace.stdout
