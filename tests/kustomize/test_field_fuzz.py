"""A fuzzer over kustomization field names (issue 20): every field kustomize knows that can
name a file, a directory or a URL, spelled in case variants and with the Unicode runes that
Go's encoding/json folds onto ASCII letters (U+017F onto s, U+212A onto k), pointing outside
the repository and at a server on 127.0.0.1 that counts connections. Through `moltgen check`,
as the pull-request gate runs it, nothing outside the repository is read into any output and
no connection is made: each is refused (exit 2) at its line, or built without leaving."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import MINIMAL_SPEC, Listener, run_moltgen

from moltgen.kustomize.kustomization import KUSTOMIZATION_FIELDS, fold

MARK = "moltgen-fuzz-outside-marker"
FOLDS = {"s": ("s", "S", "\u017f"), "k": ("k", "K", "\u212a")}


# The fields whose value names something to read, and a value of the shape each expects.
def _value(name: str, outside: str, url: str) -> str:
    shape = KUSTOMIZATION_FIELDS[name]
    if name == "openapi":
        return f"\n  path: {outside}/schema.json"
    if name == "helmGlobals":
        return f"\n  chartHome: {outside}"
    if isinstance(shape, tuple) and shape[0] == "structs":
        key = "path" if "path" in shape[1] else ("files" if "files" in shape[1] else "valuesFile")
        item = f"[{outside}/x.yaml]" if key == "files" else f"{outside}/x.yaml"
        return f"\n- {key}: {item}" + ("\n  name: g" if key == "files" else "")
    target = url if name in ("generators", "transformers", "patchesStrategicMerge") else f"{outside}/x.yaml"
    return f"\n- '{target}'"


REACHING = sorted(n for n, shape in KUSTOMIZATION_FIELDS.items()
                  if (shape not in ((), None) and not isinstance(shape, str)) or n in
                  ("openapi", "patchesStrategicMerge", "generators", "transformers", "validators"))


def spellings(name: str) -> st.SearchStrategy[str]:
    letters = []
    for c in name:
        variants = FOLDS.get(c.lower(), (c.lower(), c.upper()))
        letters.append(st.sampled_from(variants))
    return st.tuples(*letters).map("".join)


@st.composite
def folded_fields(draw) -> tuple[str, str]:
    name = draw(st.sampled_from(REACHING))
    return name, draw(spellings(name))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(field=folded_fields())
def test_no_spelling_of_a_field_reaches_outside_or_the_network(tmp_path_factory, field):
    name, spelled = field
    assert fold(spelled) == fold(name)  # kustomize reads it as that field
    work = tmp_path_factory.mktemp("fuzz")
    outside = work / "outside"
    outside.mkdir()
    for file in ("x.yaml", "schema.json"):
        (outside / file).write_text(f"# {MARK}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                    f"  name: {MARK}\n")
    repo = work / "repo"
    repo.mkdir()
    (repo / ".git").mkdir()  # the repository root
    (repo / "moltgen.yaml").write_text(MINIMAL_SPEC)
    overlay = repo / "hostile"
    overlay.mkdir()
    counter = Listener()
    try:
        value = _value(name, "../../outside", f"http://127.0.0.1:{counter.port}/x#: x")
        (overlay / "kustomization.yaml").write_text(f"resources: []\n{spelled}:{value}\n",
                                                    encoding="utf-8")
        result = run_moltgen("check", str(overlay), "--format", "json", cwd=repo)
    finally:
        counter.stop()
    assert counter.received == [], (spelled, result.stderr)
    assert MARK not in result.stdout + result.stderr, (spelled, result.stderr)
    assert result.code == 2, (spelled, result.code, result.stdout[-500:], result.stderr)
    # one located line: the field (line 2) or its entry (line 3)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(r"kustomization\.yaml:[23]:", lines[0]), (spelled, lines)
