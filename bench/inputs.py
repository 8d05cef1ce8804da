"""Fixed-size inputs: plain YAML streams of N built objects, cut from a fleet's build output.

Run as a script (`inputs.py COUNT OUTPUT SOURCE...`) it writes one and prints its provenance:
the bench makes its inputs in a child process, because a command's peak memory as the kernel
reports it (ru_maxrss) starts from the resident size of the process that forked it, and a
100,000-object stream held in the bench itself made moltgen's peak look 250 MB larger.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

# --- YAML documents, as text -----------------------------------------------------------------

def split_documents(text: str) -> list[str]:
    """The documents of a multi-document stream as kustomize prints it (`---` lines between)."""
    documents, current = [], []
    for line in text.splitlines(keepends=True):
        if line.rstrip("\r\n") == "---":
            documents.append("".join(current))
            current = []
        else:
            current.append(line)
    documents.append("".join(current))
    return [doc for doc in documents
            if any(ln.strip() and not ln.lstrip().startswith("#") for ln in doc.splitlines())]


NAMESPACE_LINE = re.compile(r"^  namespace: (\S+)\s*$")


def metadata_namespace(document: str) -> tuple[int, str] | None:
    """(line index, namespace) of metadata.namespace in a kustomize-printed document."""
    lines = document.splitlines()
    inside = False
    for index, line in enumerate(lines):
        if line.startswith("metadata:"):
            inside = True
        elif inside and line and not line.startswith(" "):
            return None
        elif inside:
            match = NAMESPACE_LINE.match(line)
            if match:
                return index, match.group(1).strip("'\"")
    return None


def renamed(document: str, suffix: str) -> str | None:
    found = metadata_namespace(document)
    if found is None:
        return None  # cluster-scoped: a copy would duplicate it
    index, namespace = found
    lines = document.splitlines(keepends=True)
    lines[index] = f"  namespace: {namespace}{suffix}\n"
    return "".join(lines)


def fixed_size_stream(sources: list[Path], count: int) -> tuple[str, dict]:
    """`count` objects from the built files: whole namespaces (instances) in order, then copies
    of them in namespaces renamed `<namespace>-rK` until there are enough."""
    groups: dict[str, list[str]] = {}
    for source in sources:
        for document in split_documents(source.read_text()):
            found = metadata_namespace(document)
            groups.setdefault(found[1] if found else "", []).append(document)
    if not groups:
        raise RuntimeError("no objects in the built output")
    chosen: list[str] = []
    copy = 0
    while len(chosen) < count:
        for documents in groups.values():
            for document in documents:
                if len(chosen) == count:
                    break
                doc = document if copy == 0 else renamed(document, f"-r{copy}")
                if doc is not None:
                    chosen.append(doc)
        copy += 1
        if copy > 10 * count:
            raise RuntimeError("cannot reach the object count (only cluster-scoped objects?)")
    text = "".join(doc if doc.endswith("\n") else doc + "\n" for doc in
                   _joined(chosen))
    return text, {"copies": copy, "source_objects": sum(map(len, groups.values())),
                  "namespaces": len(groups)}


def _joined(documents: list[str]) -> list[str]:
    return [documents[0]] + ["---\n" + doc for doc in documents[1:]] if documents else []


def write_fixed_size_stream(count: int, output: Path, sources: list[Path]) -> dict:
    text, provenance = fixed_size_stream(sources, count)
    output.write_text(text)
    return {**provenance, "megabytes": len(text) / 1e6}


if __name__ == "__main__":
    print(json.dumps(write_fixed_size_stream(int(sys.argv[1]), Path(sys.argv[2]),
                                             [Path(p) for p in sys.argv[3:]])))
