"""This repository's policy configuration: `policies/policy.yaml`.

```yaml
rules:                      # per rule: enabled, severity, params (all optional)
  image-digest: {severity: warning}
  secret-rotation-age: {params: {maxAgeDays: 60}}
waivers:                    # reason is required; expires and owner are strongly advised
  - rule: run-as-non-root
    kind: Deployment        # kind, name, namespace, env: any subset, omitted = any
    name: legacy-tool
    keys: [legacy]          # optional: only findings about these Secret keys, containers or items
    field: spec.template.spec.containers   # optional: only findings at or under this field
    reason: vendor image runs as root until upstream fixes it
    expires: 2026-12-31
    owner: platform-team
customRules: [rules]        # directories of rule files, relative to this file
annotationWaivers: [image-digest]  # the rules an object's moltgen.dev/waive.<rule> annotation may
                            # waive; default: every rule not marked `security: true`
```
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moltgen.check.model import Severity
from moltgen.core.errors import Location, MoltgenError, Problem, did_you_mean
from moltgen.core.fieldpath import FieldPath, format_path, parse_path
from moltgen.core.yamlio.parse import load_file

DEFAULT_POLICY = Path("policies") / "policy.yaml"


@dataclass(frozen=True, slots=True)
class RuleSettings:
    enabled: bool | None = None
    severity: Severity | None = None
    params: dict[str, Any] = field(default_factory=dict)
    param_locations: dict[str, Location] = field(default_factory=dict)  # for later type errors


@dataclass(frozen=True, slots=True)
class Waiver:
    rule: str
    reason: str
    expires: dt.date | None = None
    owner: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""
    env: str = ""
    source: str = ""  # "policies/policy.yaml:12" or "annotation moltgen.dev/waive.<rule>"
    keys: tuple[str, ...] = ()  # only findings about these keys (Finding.key); () = any
    field_path: FieldPath = ()  # only findings at or under this field (`field:`); () = any

    def covers(self, rule: str, kind: str, name: str, namespace: str, env: str, *,
               key: str = "", path: FieldPath = ()) -> bool:
        return (self.rule == rule and self.kind in ("", kind) and self.name in ("", name)
                and self.namespace in ("", namespace) and self.env in ("", env)
                and (not self.keys or key in self.keys)
                and tuple(path[:len(self.field_path)]) == self.field_path)

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires

    def describe(self) -> str:
        extra = [f"keys {', '.join(self.keys)}"] if self.keys else []
        extra += [f"field {format_path(self.field_path)}"] if self.field_path else []
        extra += [f"expires {self.expires.isoformat()}"] if self.expires else []
        if self.owner:
            extra.append(f"owner {self.owner}")
        suffix = f" ({', '.join(extra)})" if extra else ""
        return f"{self.reason}{suffix}"


@dataclass(slots=True)
class PolicyConfig:
    rules: dict[str, RuleSettings] = field(default_factory=dict)
    waivers: list[Waiver] = field(default_factory=list)
    custom_rule_dirs: tuple[Path, ...] = ()
    source: str = ""
    rule_locations: dict[str, Location] = field(default_factory=dict)  # rule id → where named
    # Rules an object's own annotation may waive; None: every rule not marked security.
    annotation_waivers: frozenset[str] | None = None

    def unknown_rule_problems(self, known: list[str]) -> list[Problem]:
        """A rule id in `rules:` or a waiver that no rule has: a typo that would silently
        configure or waive nothing."""
        return [Problem(f"no rule {rule_id!r}{did_you_mean(rule_id, known)}", location)
                for rule_id, location in self.rule_locations.items() if rule_id not in known]


def load_policy(path: Path | None, display: str | None = None, *,
                root: Path = Path()) -> PolicyConfig:
    """The given policy file, else `root`'s policies/policy.yaml when present (root: the
    spec's folder), else defaults. `display` names the file in messages
    (`main:policies/policy.yaml` for --base-policy)."""
    confine_to = None  # a policy named on the command line is read wherever it is
    if path is None:
        default = root / DEFAULT_POLICY
        if not default.is_file():
            rules_dir = default.parent / "rules"
            return PolicyConfig(custom_rule_dirs=(rules_dir,) if rules_dir.is_dir() else ())
        path, confine_to = default, root.resolve()  # the repository's: a link stays inside
    documents = load_file(path, display, confine_to=confine_to)
    if not documents:
        return PolicyConfig(source=display or str(path))
    doc = documents[0]
    data = doc.data
    problems: list[Problem] = []

    def bad(where: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(message, doc.locate(where, key=True), ".".join(map(str, where))))

    if not isinstance(data, dict):
        raise MoltgenError(Problem("a policy file is a mapping", Location(display or str(path))))
    for key in set(data) - {"rules", "waivers", "customRules", "annotationWaivers"}:
        bad((key,), "unknown key (expected rules, waivers, customRules, annotationWaivers)")
    for key, kind in (("rules", dict), ("waivers", list), ("customRules", list),
                      ("annotationWaivers", list)):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise MoltgenError(Problem(f"must be a {'mapping' if kind is dict else 'list'}",
                                       doc.locate((key,)), key))
    settings: dict[str, RuleSettings] = {}
    locations: dict[str, Location] = {}
    for rule_id, value in (data.get("rules") or {}).items():
        if not isinstance(value, dict) or set(value) - {"enabled", "severity", "params"}:
            bad(("rules", rule_id), "takes enabled, severity and params")
            continue
        severity = None
        if "severity" in value:
            try:
                severity = Severity(value["severity"])
            except (ValueError, TypeError):  # TypeError: a list or mapping is not hashable
                bad(("rules", rule_id, "severity"), "must be error, warning or info")
        params = value.get("params") or {}
        if not isinstance(params, dict):
            bad(("rules", rule_id, "params"), "must be a mapping of parameter names to values")
            params = {}
        for name, param in params.items():
            for where, message in param_problems(param, ("rules", rule_id, "params", name)):
                bad(where, message)
        if "enabled" in value and not isinstance(value["enabled"], bool):
            bad(("rules", rule_id, "enabled"), "must be true or false")
        settings[str(rule_id)] = RuleSettings(
            value.get("enabled") if isinstance(value.get("enabled"), bool) else None, severity,
            dict(params), {str(name): doc.locate(("rules", rule_id, "params", name))
                           for name in params})
        locations.setdefault(str(rule_id), doc.locate(("rules", rule_id), key=True))
    waivers = []
    for index, item in enumerate(data.get("waivers") or []):
        where = ("waivers", index)
        if not isinstance(item, dict):
            bad(where, "a waiver is a mapping with rule and reason")
            continue
        unknown = set(item) - {"rule", "reason", "expires", "owner", "kind", "name", "namespace", "env",
                               "keys", "field"}
        if unknown:
            bad(where, f"unknown waiver keys: {', '.join(sorted(unknown))}")
        if not str(item.get("rule") or "").strip():
            bad(where, "a waiver names its rule")
        if not str(item.get("reason") or "").strip():
            bad(where, "a waiver needs a reason")
            continue
        try:
            expires = _date(item.get("expires"))
        except ValueError:
            bad(where + ("expires",), "must be a date, YYYY-MM-DD")
            continue
        keys = item.get("keys") or []
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            bad(where + ("keys",), "must be a list of key names")
            continue
        try:
            field_path = parse_path(str(item["field"])) if item.get("field") else ()
        except ValueError:
            bad(where + ("field",), "not a field path like stringData.gatewayToken or spec.template")
            continue
        location = doc.locate(where)
        locations.setdefault(str(item.get("rule")), doc.locate((*where, "rule")))
        waivers.append(Waiver(
            rule=str(item.get("rule")), reason=str(item["reason"]).strip(), expires=expires,
            owner=str(item.get("owner") or ""), kind=str(item.get("kind") or ""),
            name=str(item.get("name") or ""), namespace=str(item.get("namespace") or ""),
            env=str(item.get("env") or ""), source=f"{location.file}:{location.line}",
            keys=tuple(keys), field_path=field_path,
        ))
    dirs = []
    for index, entry in enumerate(data.get("customRules") or []):
        directory = path.parent / str(entry)
        if not directory.is_dir():
            bad(("customRules", index), f"no such directory: {directory}")
        dirs.append(directory)
    annotation_waivers = None
    if data.get("annotationWaivers") is not None:
        for index, item in enumerate(data["annotationWaivers"]):
            if not isinstance(item, str):
                bad(("annotationWaivers", index), "must be a rule id")
        annotation_waivers = frozenset(str(item) for item in data["annotationWaivers"])
    if problems:
        raise MoltgenError(problems)
    return PolicyConfig(settings, waivers, tuple(dirs), display or str(path), locations,
                        annotation_waivers)


_INT64 = 2**63 - 1


def param_problems(value: Any, where: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], str]]:
    """Parameters become CEL literals: only what CEL can hold exactly (strings, booleans,
    64-bit integers, finite numbers, lists and mappings of them, null)."""
    if value is None or isinstance(value, (bool, str)):
        return []
    if isinstance(value, int):
        return [] if -_INT64 <= value <= _INT64 else [(where, "is out of the 64-bit integer range")]
    if isinstance(value, float):
        return [] if math.isfinite(value) else [(where, "must be a finite number")]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in param_problems(item, where + (index,))]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in param_problems(item, where + (key,))]
    return [(where, f"a {type(value).__name__} is not a parameter value (use a string)")]


def _date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value).strip())
