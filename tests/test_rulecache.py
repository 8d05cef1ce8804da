"""The parsed built-in rules kept in the cache (moltgen.check.rulecache): read back equal to a
fresh parse, and an entry that is not a parse of them is never trusted."""

from __future__ import annotations

import hashlib
import os
import pickle

from moltgen.check import catalog, rulecache
from moltgen.check.model import Severity

ALLOWED = (catalog.Rule, catalog.RuleTest, Severity)


def test_rules_read_back_equal_a_fresh_parse(tmp_path):
    parsed = catalog.parse_builtin_rules()
    calls = []

    def parse():
        calls.append(1)
        return catalog.parse_builtin_rules()

    first = rulecache.cached_rules(parse, ALLOWED, tmp_path)
    second = rulecache.cached_rules(parse, ALLOWED, tmp_path)
    assert calls == [1]  # the second came from the entry
    assert first == parsed and second == parsed
    assert len(second) == len(parsed) > 50
    # what the entries hold besides the fields compared: a rule test's document still locates
    tested = next(rule for _, rule in second if rule.tests and rule.tests[0].document)
    assert tested.tests[0].location.line > 1


class _Planted:
    def __reduce__(self):
        return (os.system, ("echo planted",))


def test_a_planted_entry_runs_no_code_and_is_parsed_again(tmp_path):
    # a well-formed entry (its own hash right) whose body would call os.system when unpickled
    body = pickle.dumps((("x", _Planted()),))
    digest = rulecache.key()
    path = tmp_path / digest[:2] / digest
    path.parent.mkdir(parents=True)
    path.write_bytes(rulecache.FORMAT + b" " + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    rules = rulecache.cached_rules(catalog.parse_builtin_rules, ALLOWED, tmp_path)
    assert rules == catalog.parse_builtin_rules()
    # and the entry was replaced by the parse
    assert rulecache.cached_rules(lambda: (), ALLOWED, tmp_path) == rules


def test_no_cache_parses_every_time(monkeypatch):
    monkeypatch.setenv("MOLTGEN_NO_CACHE", "1")
    calls = []
    for _ in range(2):
        rulecache.cached_rules(lambda: calls.append(1) or (), ALLOWED, None)
    assert calls == [1, 1]
