from __future__ import annotations

from pathlib import Path

from moltgen.check.catalog import load_catalog
from moltgen.check.docs import rules_markdown
from moltgen.check.schema import SchemaSet
from moltgen.check.vap import export_vap, rewrite_identifiers

REPO = Path(__file__).resolve().parents[2]


def test_docs_rules_md_is_current():
    expected = rules_markdown(load_catalog())
    actual = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    assert actual == expected, "docs/rules.md is stale: run `moltgen rules --markdown > docs/rules.md`"


def test_exported_policies_are_valid_kubernetes_objects():
    documents, skipped = export_vap(load_catalog(), env="prod")
    assert documents and {s.rule for s in skipped} >= {"service-selects-pods", "secret-empty-value"}
    schemas = SchemaSet()
    for document in documents:
        assert schemas.validate(document) == [], document["metadata"]["name"]
    policy = next(d for d in documents if d["metadata"]["name"] == "moltgen-run-as-non-root")
    expression = policy["spec"]["validations"][0]["expression"]
    assert expression.startswith("variables.containers.all(container, ")
    assert "variables.podSpec.?securityContext" in expression


def test_rewrite_identifiers_skips_fields_and_strings():
    text = "params.x + 'params.y' + object.params + env"
    assert rewrite_identifiers(text, {"params": "variables.params", "env": "variables.env"}) == \
        "variables.params.x + 'params.y' + object.params + variables.env"
