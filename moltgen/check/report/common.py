"""Small helpers the report formats share."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

from moltgen.check.model import Finding, InstanceOverlay
from moltgen.core.terminal import safe


def by_file(findings: list[Finding]) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = defaultdict(list)
    for finding in sorted(findings, key=sort_key):
        groups[finding.location.file if finding.location else "(unknown file)"].append(finding)
    return dict(groups)


def waived_counts(findings: list[Finding]) -> list[tuple[str, str, int]]:
    """(rule, waiver, how many findings it waived), in order: a fleet repeats one waiver per
    instance, and the reports say it once."""
    counts = Counter((f.rule, f.waiver or "") for f in findings if f.waived)
    return [(rule, waiver, count) for (rule, waiver), count in sorted(counts.items())]


def across_instances(findings: list[Finding], instances: dict[str, InstanceOverlay]
                     ) -> list[tuple[Finding, list[str]]]:
    """Findings that say the same of several instances of a fleet, once each: (the first of
    them, the labels of the instances it was found in). The same means the same rule,
    severity, waiver, object kind and name, field, spec line, and message and location once
    the instance's namespace and name are taken out (its overlay directory too, so
    overlays/prod/ml/x.yaml:3 and overlays/dev/web/x.yaml:3 are the same). A finding of no
    instance (a plain overlay, a file) stays on its own."""
    groups: dict[Any, tuple[Finding, list[str]]] = {}
    for finding in findings:
        instance = instances.get(finding.object.namespace)
        key: Any = id(finding) if instance is None else _instance_free(finding, instance)
        group = groups.setdefault(key, (finding, []))
        if instance is not None:
            group[1].append(instance.label)
    return list(groups.values())


def _instance_free(finding: Finding, instance: InstanceOverlay) -> tuple[Any, ...]:
    namespace, name = re.escape(finding.object.namespace), re.escape(instance.name)
    # whole words of a DNS label only: instance "a" leaves "namespace" alone
    words = re.compile(rf"(?<![a-z0-9-])(?:{namespace}|{name})(?![a-z0-9-])")

    def free(text: str) -> str:
        return words.sub("\x00", text)

    location = finding.location
    file = location.file if location else ""
    prefix = instance.directory.rstrip("/") + "/"
    if file.startswith(prefix):
        file = "\x00/" + file[len(prefix):]
    ref = finding.object
    return (finding.rule, finding.severity, finding.waived, free(finding.waiver), free(finding.key),
            free(finding.message), file, location.line if location else None,
            location.column if location else None, finding.path, finding.origin,
            ref.api_version, ref.kind, ref.name)


def sort_key(finding: Finding) -> tuple[str, int, int, str]:
    location = finding.location
    return (location.file if location else "~", (location.line or 0) if location else 0,
            (location.column or 0) if location else 0, finding.rule)


def canonical(finding: Finding) -> tuple[Any, ...]:
    """One order of findings whatever order the targets and parts were checked in: the
    reports' own (file, line, column, rule), then everything else a finding says, so that
    the shards of a check merge into its very report (check.report.shard)."""
    ref, origin = finding.object, finding.origin
    return (sort_key(finding), ref.api_version, ref.kind, ref.namespace, ref.name,
            [(type(step).__name__, step) for step in finding.path], finding.severity.value,
            finding.message, finding.waived, finding.waiver, finding.key,
            (origin.file, origin.line or 0, origin.column or 0) if origin else ("", 0, 0))


def place(finding: Finding) -> str:
    location = finding.location
    if location is None:
        return "-"
    return f"{location.file}:{location.line}" if location.line else location.file


def summary_line(objects: int, errors: int, warnings: int, waived: int, infos: int = 0) -> str:
    info = f"{infos} info, " if infos else ""  # counted when there are any, like the others
    return (f"{objects} object{'s' if objects != 1 else ''} checked: {errors} error"
            f"{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}, "
            f"{info}{waived} waived")


def visible(text: str) -> str:
    """`text` on one line with every control character shown as `\\xHH` (or `\\uHHHH`), never acted on."""
    return safe(text, one_line=True)
