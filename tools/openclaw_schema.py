"""Maintainer command: store OpenClaw's config schema for a release in the package.

    .venv/bin/python tools/openclaw_schema.py [RELEASE ...]     (make openclaw-schemas)

Installs each release with the real Node.js and npm (cached outside the repository, see
moltgen/openclaw/install.py), runs `openclaw config schema` and writes what it prints,
gzip-compressed and byte-stable, to moltgen/openclaw/schemas/<release>.json.gz. Without an
argument it refreshes every release already shipped. Needs the npm registry.
"""

from __future__ import annotations

import gzip
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moltgen.openclaw.install import Runtime, install
from moltgen.openclaw.schema import SCHEMA_DIR, shipped_releases


def print_schema(runtime: Runtime) -> bytes:
    """What `openclaw config schema` prints, checked to be a JSON Schema."""
    with tempfile.TemporaryDirectory(prefix="openclaw-schema-") as home:
        result = runtime.run("config", "schema", home=Path(home), timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"openclaw@{runtime.release} config schema failed: {result.stderr[-2000:]}")
    schema = json.loads(result.stdout)
    if not isinstance(schema, dict) or "properties" not in schema:
        raise SystemExit(f"openclaw@{runtime.release} config schema printed no JSON Schema")
    return result.stdout.encode()


def compress(printed: bytes) -> bytes:
    return gzip.compress(printed, compresslevel=9, mtime=0)  # mtime 0: the same bytes every run


def main(argv: list[str]) -> int:
    releases = argv or list(shipped_releases())
    if not releases:
        raise SystemExit("name a release, e.g. 2026.9.6")
    for release in releases:
        runtime = install(release, log=lambda message: print(message, file=sys.stderr))
        printed = print_schema(runtime)
        target = SCHEMA_DIR / f"{release}.json.gz"
        target.write_bytes(compress(printed))
        print(f"{target}: {len(printed):,} bytes printed, {target.stat().st_size:,} stored")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
