"""Maintainer command: store OpenClaw's config schema for a release in the package.

    .venv/bin/python tools/openclaw_schema.py [RELEASE ...]     (make openclaw-schemas)
    .venv/bin/python tools/openclaw_schema.py --new             (every stable release not shipped yet)

Installs each release with the real Node.js and npm (cached outside the repository, see
moltgen/openclaw/install.py), runs `openclaw config schema` and writes what it prints,
gzip-compressed and byte-stable, to moltgen/openclaw/schemas/<release>.json.gz. Without an
argument it refreshes every release already shipped; with --new it adds the stable releases
from the oldest shipped one to the registry's `latest` that are not shipped yet. Needs the
npm registry. A release the registry does not have stops it in one line, exit 2, before
anything is installed.
"""

from __future__ import annotations

import gzip
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moltgen.openclaw import install as installer
from moltgen.openclaw.install import InstallError, Runtime
from moltgen.openclaw.releases import stable_between
from moltgen.openclaw.schema import SCHEMA_DIR, shipped_releases

NAME = "tools/openclaw_schema.py"


def print_schema(runtime: Runtime) -> bytes:
    """What `openclaw config schema` prints, checked to be a JSON Schema."""
    with tempfile.TemporaryDirectory(prefix="openclaw-schema-") as home:
        result = runtime.run("config", "schema", home=Path(home), timeout=300)
    if result.returncode != 0:
        raise InstallError(f"openclaw@{runtime.release} config schema failed: "
                           + " | ".join(result.stderr.strip().splitlines()[-3:]))
    schema = json.loads(result.stdout)
    if not isinstance(schema, dict) or "properties" not in schema:
        raise InstallError(f"openclaw@{runtime.release} config schema printed no JSON Schema")
    return result.stdout.encode()


def compress(printed: bytes) -> bytes:
    return gzip.compress(printed, compresslevel=9, mtime=0)  # mtime 0: the same bytes every run


def wanted(argv: list[str]) -> list[str]:
    """The releases to store, each checked against the registry's listing first (a typo
    fails at once, not after installing the releases before it)."""
    times, tags = installer.published()
    if argv == ["--new"]:
        shipped = shipped_releases()
        return [r for r in stable_between(list(times), shipped[0], tags["latest"]) if r not in shipped]
    releases = argv or list(shipped_releases())
    for release in releases:
        if release not in times:
            raise InstallError(f"{release}: no such OpenClaw release on the npm registry "
                               f"(latest: {tags.get('latest', 'none')})")
    return releases


def main(argv: list[str]) -> int:
    try:
        for release in wanted(argv):
            runtime = installer.install(release, log=lambda message: print(message, file=sys.stderr))
            printed = print_schema(runtime)
            target = SCHEMA_DIR / f"{release}.json.gz"
            target.write_bytes(compress(printed))
            print(f"{target}: {len(printed):,} bytes printed, {target.stat().st_size:,} stored")
    except InstallError as exc:
        print(f"{NAME}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
