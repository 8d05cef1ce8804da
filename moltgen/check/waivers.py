"""Waivers: a finding someone decided to accept, with a reason, an owner and an end date.

Two sources: the policy file (config.Waiver) and an annotation on the object itself,
`moltgen.dev/waive.<rule>: "reason; expires=YYYY-MM-DD; owner=NAME"`. A waived finding is still
reported (marked waived, counted); an expired waiver stops waiving and the finding says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from moltgen.check.config import Waiver
from moltgen.check.model import Finding, Manifest, Severity

ANNOTATION_PREFIX = "moltgen.dev/waive."


def annotation_waivers(manifest: Manifest) -> tuple[list[Waiver], list[Finding]]:
    """The waivers an object declares, and a `waiver-invalid` finding for each malformed one."""
    metadata = manifest.data.get("metadata")
    annotations: Any = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict):
        return [], []
    waivers, problems = [], []
    ref = manifest.ref
    for key, value in annotations.items():
        if not str(key).startswith(ANNOTATION_PREFIX):
            continue
        rule = str(key)[len(ANNOTATION_PREFIX):]
        path = ("metadata", "annotations", str(key))
        try:
            waivers.append(parse_annotation(rule, str(value or "")))
        except ValueError as exc:
            problems.append(Finding("waiver-invalid", Severity.ERROR, f"{key}: {exc}", ref, path))
    return waivers, problems


def untrusted_waivers(waivers: list[Waiver], may_waive: Callable[[str], bool],
                      manifest: Manifest) -> tuple[list[Waiver], list[Finding]]:
    """An annotation is written by whoever writes the object, so in a pull request it is the
    author waiving their own finding: only rules the policy lets annotations waive are waived;
    any other waiver annotation is itself a `waiver-invalid` finding."""
    kept, refused = [], []
    for waiver in waivers:
        if may_waive(waiver.rule):
            kept.append(waiver)
            continue
        key = f"{ANNOTATION_PREFIX}{waiver.rule}"
        refused.append(Finding(
            "waiver-invalid", Severity.ERROR,
            f"{key}: an annotation cannot waive {waiver.rule}; waive it in the policy file "
            "(waivers:), or list it under annotationWaivers there", manifest.ref,
            ("metadata", "annotations", key)))
    return kept, refused


def parse_annotation(rule: str, text: str) -> Waiver:
    parts = [p.strip() for p in text.split(";")]
    reason, fields = parts[0], {}
    for part in parts[1:]:
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep or name.strip() not in ("expires", "owner"):
            raise ValueError(f"unknown waiver field {part!r} (expected expires=YYYY-MM-DD, owner=NAME)")
        fields[name.strip()] = value.strip()
    if not reason or "=" in reason:
        raise ValueError('a waiver needs a reason first: "reason; expires=YYYY-MM-DD; owner=NAME"')
    try:
        expires = dt.date.fromisoformat(fields["expires"]) if "expires" in fields else None
    except ValueError:
        raise ValueError(f"expires={fields['expires']!r} is not a date YYYY-MM-DD") from None
    return Waiver(rule=rule, reason=reason, expires=expires, owner=fields.get("owner", ""),
                  source=f"annotation {ANNOTATION_PREFIX}{rule}")


def apply_waivers(findings: list[Finding], waivers: list[Waiver], env: str, today: dt.date) -> None:
    """Mark findings covered by a live waiver; say so on those whose waiver has expired."""
    for finding in findings:
        ref = finding.object
        for waiver in waivers:
            if not waiver.covers(finding.rule, ref.kind, ref.name, ref.namespace, env,
                                 key=finding.key, path=finding.path):
                continue
            if waiver.expired(today):
                finding.waiver = f"waiver expired on {waiver.expires}: {waiver.describe()} [{waiver.source}]"
                continue
            finding.waived = True
            finding.waiver = f"{waiver.describe()} [{waiver.source}]"
            break
