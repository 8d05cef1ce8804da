"""The JSON report of one shard (`check --shard K/N --format json`) and the joining of every
shard's into the one result the unsharded check gives (`check --merge`).

A shard's report is the version 1 report with what the other formats need besides: a
top-level `shard` (which slice, and the fleet's instances, by which the text report groups
the findings they share) and, per finding, `column`, `path`, `waiver`, `key` and the origin's
column. The merged report is plain version 1 again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from moltgen.check.model import CheckResult, Finding, InstanceOverlay, ObjectRef, Severity
from moltgen.check.report.common import canonical, sort_key
from moltgen.check.report.json_report import as_data
from moltgen.core.errors import Location, MoltgenError, Problem


def render(result: CheckResult, shard: Any) -> str:
    data = as_data(result)
    data["shard"] = {"index": shard.index, "count": shard.count,
                     "instances": [{"namespace": namespace, "label": i.label, "name": i.name,
                                    "directory": i.directory}
                                   for namespace, i in sorted(result.instances.items())]}
    for item, finding in zip(data["findings"], sorted(result.findings, key=sort_key), strict=True):
        item["column"] = finding.location.column if finding.location else None
        item["path"] = list(finding.path)
        item["waiver"], item["key"] = finding.waiver, finding.key
        if finding.origin is not None:
            item["origin"]["column"] = finding.origin.column
    return json.dumps(data, indent=2) + "\n"


def merge(files: list[Path]) -> CheckResult:
    """Every shard's report, 1/N to N/N each once, joined in the unsharded check's order."""
    total = CheckResult(objects=0)
    seen: dict[int, str] = {}
    count: int | None = None
    for file in files:
        data = _read(file)
        shard = data["shard"]
        if count is not None and shard["count"] != count:
            raise MoltgenError(Problem(f"shard {shard['index']}/{shard['count']}, the others are of {count}",
                                       Location(str(file)), field="shard.count"))
        count = shard["count"]
        if shard["index"] in seen:
            raise MoltgenError(Problem(f"shard {shard['index']}/{count} again (also {seen[shard['index']]})",
                                       Location(str(file)), field="shard.index"))
        seen[shard["index"]] = str(file)
        total.objects += data["summary"]["objects"]
        total.findings.extend(_finding(item) for item in data["findings"])
        for i in shard["instances"]:
            total.instances[i["namespace"]] = InstanceOverlay(i["label"], i["name"], i["directory"])
    missing = [str(k) for k in range(1, (count or 0) + 1) if k not in seen]
    if missing:
        raise MoltgenError(Problem(f"shard {missing[0]}/{count} is missing: give every shard's report",
                                   Location(str(files[-1])), field="shard.index"))
    total.findings.sort(key=canonical)
    return total


def _read(file: Path) -> dict[str, Any]:
    """A shard's report, its shape checked: anything else is one located line, exit 2."""
    where = Location(str(file))
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise MoltgenError(Problem(error.strerror or "cannot be read", where)) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise MoltgenError(Problem(f"not JSON ({type(error).__name__})", where)) from None
    if not isinstance(data, dict) or data.get("version") != 1:
        raise MoltgenError(Problem("not a moltgen check report of version 1", where, field="version"))
    shard = data.get("shard")
    if not isinstance(shard, dict):
        raise MoltgenError(Problem("not a shard's report: write it with `moltgen check --shard K/N "
                                   "--format json`", where, field="shard"))
    for name in ("index", "count"):
        if type(shard.get(name)) is not int or not 1 <= shard[name] <= 9999:
            raise MoltgenError(Problem("must be a whole number from 1", where, field=f"shard.{name}"))
    if shard["index"] > shard["count"]:
        raise MoltgenError(Problem("is more than shard.count", where, field="shard.index"))
    if not isinstance(shard.get("instances"), list) or not isinstance(data.get("findings"), list) \
            or type((data.get("summary") or {}).get("objects")) is not int:
        raise MoltgenError(Problem("is not a shard's report's shape", where, field="findings"))
    try:
        for item in data["findings"]:
            _finding(item)
        for i in shard["instances"]:
            InstanceOverlay(str(i["label"]), str(i["name"]), str(i["directory"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise MoltgenError(Problem("is not a shard's report's shape", where, field="findings")) from None
    return data


def _finding(item: dict[str, Any]) -> Finding:
    ref = item["object"]
    origin = item["origin"]
    file = item["file"]
    return Finding(
        rule=str(item["rule"]), severity=Severity(item["severity"]), message=str(item["message"]),
        object=ObjectRef(str(ref["apiVersion"]), str(ref["kind"]), str(ref["namespace"]), str(ref["name"])),
        path=tuple(step if type(step) is int else str(step) for step in item["path"]),
        location=None if file is None else Location(str(file), item["line"], item["column"]),
        origin=None if origin is None else Location(str(origin["file"]), origin["line"], origin.get("column")),
        waived=item["waived"] is True, waiver=str(item["waiver"]), key=str(item["key"]))
