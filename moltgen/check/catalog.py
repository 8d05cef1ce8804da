"""Rules are data: one YAML file per rule, loaded and compiled once.

The format is documented for rule authors in moltgen/check/rules/README.md; `docs/rules.md` is
generated from the same files (moltgen.check.docs), so documentation and behaviour cannot differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from functools import lru_cache
from pathlib import Path
from typing import Any

from moltgen.check import celenv
from moltgen.check.builtins import BUILTIN_RULES
from moltgen.check.model import Severity
from moltgen.check.rulecache import cached_rules
from moltgen.check.views import WORKLOAD_KINDS
from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.fieldpath import FieldPath, parse_path
from moltgen.core.yamlio.document import Document
from moltgen.core.yamlio.parse import load_file

BUILTIN_DIR = Path(__file__).parent / "rules"
KIND_GROUPS = {"workloads": WORKLOAD_KINDS}
_KEYS = {"id", "severity", "summary", "description", "match", "scope", "forEach", "each", "when",
         "expression", "message", "messageExpression", "field", "fieldExpression", "objects",
         "params", "tests", "builtin", "enabled", "security"}
# A custom rule comes from the policy's tree: its CEL is bounded in size (evaluation is bounded
# by the runtime's comprehension iteration budget, which fails the rule closed).
MAX_CUSTOM_EXPRESSION = 4096
_TEST_KEYS = {"name", "expect", "env", "count", "object", "objects", "params"}


@dataclass(frozen=True, slots=True)
class RuleTest:
    name: str
    expect: str  # "pass" | "fail"
    objects: tuple[dict[str, Any], ...]
    env: str = ""
    count: int | None = None  # exact number of findings expected when failing
    params: dict[str, Any] = _field(default_factory=dict)
    document: Document | None = None  # the rule file, where the test is `tests[index]`
    index: int = 0

    @property
    def location(self) -> Location | None:
        # Located on use: only a failing test is reported, and locating parses the file again.
        return self.document.locate(("tests", self.index)) if self.document else None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    summary: str
    description: str
    source: str  # the rule file
    kinds: tuple[str, ...] = ()  # empty: every kind
    environments: tuple[str, ...] = ()  # empty: every environment
    scope: str = "object"  # "object" | "objects" (sees the other objects of the same target)
    for_each: str = ""  # "" | "container"
    each: str = ""  # CEL list: one verdict per element, bound as `item` (a Secret's keys...)
    when: str = ""
    expression: str = ""
    message: str = ""
    message_expression: str = ""
    field: FieldPath = ()
    field_expression: str = ""
    object_kinds: tuple[str, ...] = ()  # scope objects: which kinds `objects` holds
    same_namespace: bool = True  # scope objects: only objects of the same namespace
    params: dict[str, Any] = _field(default_factory=dict)
    tests: tuple[RuleTest, ...] = ()
    builtin: bool = False  # implemented by the engine (schema), not by CEL
    enabled: bool = True
    custom: bool = False  # from a policies/ rules directory
    security: bool = False  # an object's own annotation cannot waive it (moltgen.check.waivers)

    def matches(self, kind: str, env: str) -> bool:
        if self.kinds and kind not in self.kinds:
            return False
        return not self.environments or env in self.environments

    def program(self, name: str) -> celenv.Program | None:
        source = self.sources()[name]
        return celenv.compile_expression(source) if source else None

    def sources(self) -> dict[str, str]:
        """Every CEL expression of the rule, by its key in the rule file."""
        return {"each": self.each, "when": self.when, "expression": self.expression,
                "messageExpression": self.message_expression,
                "fieldExpression": self.field_expression}

    @property
    def uses(self) -> set[str]:
        """Variables the rule's CEL reads (a syntactic over-approximation, for export)."""
        text = " ".join(self.sources().values())
        return {name for name in celenv.VARIABLES if _mentions(text, name)}


def _mentions(text: str, name: str) -> bool:
    import re

    return re.search(rf"(?<![\w.]){name}\b", text) is not None


@dataclass(slots=True)
class Catalog:
    rules: dict[str, Rule]

    def get(self, rule_id: str) -> Rule | None:
        return self.rules.get(rule_id)

    def sorted(self) -> list[Rule]:
        return sorted(self.rules.values(), key=lambda r: (not r.builtin, r.id))


def load_catalog(custom_dirs: tuple[Path, ...] = ()) -> Catalog:
    rules = dict(_builtin_rules())
    for directory in custom_dirs:
        for rule in load_rule_dir(directory, custom=True):
            if rule.id in rules:
                raise MoltgenError(Problem(f"rule id {rule.id!r} is already defined by "
                                           f"{rules[rule.id].source}", Location(rule.source), "id"))
            rules[rule.id] = rule
    return Catalog(rules)


@lru_cache(maxsize=1)
def _builtin_rules() -> tuple[tuple[str, Rule], ...]:
    return cached_rules(parse_builtin_rules, (Rule, RuleTest, Severity))


def parse_builtin_rules() -> tuple[tuple[str, Rule], ...]:
    rules = load_rule_dir(BUILTIN_DIR, custom=False)
    missing = set(BUILTIN_RULES) - {rule.id for rule in rules if rule.builtin}
    if missing:  # a packaging mistake, said as one: the engine would report unknown rules
        raise MoltgenError(Problem(f"built-in rule(s) without a file: {', '.join(sorted(missing))}",
                                   Location(str(BUILTIN_DIR))))
    return tuple((rule.id, rule) for rule in rules)


def load_rule_dir(directory: Path, *, custom: bool) -> list[Rule]:
    if not directory.is_dir():
        raise MoltgenError(Problem("rules directory does not exist", Location(str(directory))))
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
    rules, problems = [], []
    for path in files:
        try:
            rules.append(load_rule_file(path, custom=custom))
        except MoltgenError as error:
            problems.extend(error.problems)
    if problems:
        raise MoltgenError(problems)
    return rules


def load_rule_file(path: Path, *, custom: bool = False) -> Rule:
    documents = load_file(path, _display(path))
    if len(documents) != 1 or not isinstance(documents[0].data, dict):
        raise MoltgenError(Problem("a rule file holds exactly one mapping", Location(_display(path))))
    return _parse_rule(documents[0], path, custom)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _parse_rule(doc: Document, path: Path, custom: bool) -> Rule:
    data: dict[str, Any] = doc.data
    problems: list[Problem] = []

    def bad(field_path: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(message, doc.locate(field_path, key=True),
                                ".".join(str(p) for p in field_path)))

    for key in data:
        if key not in _KEYS:
            bad((key,), f"unknown key (expected one of: {', '.join(sorted(_KEYS))})")
    rule_id = data.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        bad(("id",), "required: the rule id")
        rule_id = path.stem
    elif rule_id != path.stem:
        bad(("id",), f"the id must match the file name ({path.stem!r})")
    try:
        severity = Severity(data.get("severity"))
    except ValueError:
        bad(("severity",), "must be error, warning or info")
        severity = Severity.ERROR
    for key in ("summary", "description"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            bad((key,), "required: text")
    builtin = data.get("builtin", False) is True
    if builtin and (custom or data.get("id") not in BUILTIN_RULES):
        bad(("builtin",), "only moltgen's own engine rules are built in "
                          f"({', '.join(BUILTIN_RULES)}); write an expression instead")
    match = data.get("match") or {}
    if not isinstance(match, dict) or set(match) - {"kinds", "environments"}:
        bad(("match",), "match takes kinds and environments")
        match = {}
    kinds = _kinds(match.get("kinds"), lambda m: bad(("match", "kinds"), m))
    environments = _strings(match.get("environments"), lambda m: bad(("match", "environments"), m))
    scope = data.get("scope", "object")
    if scope not in ("object", "objects"):
        bad(("scope",), "must be object or objects")
    for_each = data.get("forEach", "")
    if for_each not in ("", "container"):
        bad(("forEach",), "must be container (or absent)")
    objects = data.get("objects") or {}
    if objects and scope != "objects":
        bad(("objects",), "only for scope: objects")
    if not isinstance(objects, dict) or set(objects) - {"kinds", "namespace"}:
        bad(("objects",), "objects takes kinds and namespace (same|any)")
        objects = {}
    if objects.get("namespace", "same") not in ("same", "any"):
        bad(("objects", "namespace"), "must be same or any")
    expressions = {}
    for key in ("each", "when", "expression", "messageExpression", "fieldExpression"):
        value = data.get(key, "")
        if not isinstance(value, str):
            bad((key,), "must be a CEL expression (a string)")
            continue
        # A custom rule is compiled here, so its author sees a located error; the shipped
        # rules are compiled by the test suite, and at run time only when used (with params).
        if value and custom and len(value) > MAX_CUSTOM_EXPRESSION:
            bad((key,), f"a custom rule's expression is at most {MAX_CUSTOM_EXPRESSION} characters")
            continue
        if value and custom:
            try:
                celenv.compile_expression(value.strip())
            except celenv.CelError as exc:
                bad((key,), f"CEL does not compile: {exc}")
        expressions[key] = value.strip()
    if not builtin and not expressions.get("expression"):
        bad(("expression",), "required: a CEL expression that is true when the object complies")
    if not builtin and not isinstance(data.get("message"), str):
        bad(("message",), "required: the message of a finding")
    field_text = data.get("field", "")
    field_path: FieldPath = ()
    if field_text:
        try:
            field_path = parse_path(str(field_text))
        except ValueError:
            bad(("field",), "not a field path like resources.limits or containers[0].image")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        bad(("params",), "must be a mapping of parameter names to default values")
        params = {}
    tests = _tests(doc, data.get("tests") or [], bad)
    if not builtin and not custom:
        expects = {t.expect for t in tests}
        if expects != {"pass", "fail"}:
            bad(("tests",), "a built-in rule needs at least one passing and one failing test")
    if problems:
        raise MoltgenError(problems)
    return Rule(
        id=rule_id, severity=severity, summary=data["summary"].strip(),
        description=data["description"].strip(), source=_display(path), kinds=kinds,
        environments=environments, scope=scope, for_each=for_each, each=expressions.get("each", ""),
        when=expressions.get("when", ""), expression=expressions.get("expression", ""),
        message=str(data.get("message", "")).strip(),
        message_expression=expressions.get("messageExpression", ""),
        field=field_path, field_expression=expressions.get("fieldExpression", ""),
        object_kinds=_kinds(objects.get("kinds"), lambda m: None),
        same_namespace=objects.get("namespace", "same") == "same", params=dict(params),
        tests=tests, builtin=builtin, enabled=data.get("enabled", True) is not False, custom=custom,
        security=data.get("security", False) is True,
    )


def _strings(value: Any, bad: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        bad("must be a list of names")
        return ()
    return tuple(value)


def _kinds(value: Any, bad: Any) -> tuple[str, ...]:
    kinds: list[str] = []
    for name in _strings(value, bad):
        kinds.extend(KIND_GROUPS.get(name, (name,)))
    return tuple(dict.fromkeys(kinds))


def _tests(doc: Document, value: Any, bad: Any) -> tuple[RuleTest, ...]:
    if not isinstance(value, list):
        bad(("tests",), "must be a list of tests")
        return ()
    tests = []
    for index, item in enumerate(value):
        where = ("tests", index)
        if not isinstance(item, dict):
            bad(where, "a test is a mapping with name, expect and object or objects")
            continue
        unknown = set(item) - _TEST_KEYS
        if unknown:
            bad(where, f"unknown test keys: {', '.join(sorted(unknown))}")
        if item.get("expect") not in ("pass", "fail"):
            bad(where + ("expect",), "must be pass or fail")
        objects = item.get("objects") if "objects" in item else [item.get("object")]
        if not isinstance(objects, list) or not objects or not all(isinstance(o, dict) for o in objects):
            bad(where, "needs object (a manifest) or objects (a list of manifests)")
            continue
        tests.append(RuleTest(
            name=str(item.get("name") or f"test {index + 1}"), expect=str(item.get("expect")),
            objects=tuple(objects), env=str(item.get("env") or ""), count=item.get("count"),
            params=dict(item.get("params") or {}), document=doc, index=index,
        ))
    return tuple(tests)
