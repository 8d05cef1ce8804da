"""The seed's journey against a booted gateway: the router in front of it (router.py), headless
Chromium opening each public URL with the token in its fragment (browser.mjs), and the
operator's approval of the browser with the commands `moltgen access` prints, run in the pod
(`devices list --json`, then `devices approve <requestId> --json`).

Chromium is Debian's (`make system-deps`); playwright-core, which drives it, is installed from
the npm registry once, beside the OpenClaw releases (outside the repository).

What this cannot emulate: the cluster issuer's certificate chain (the browser accepts this
run's certificate by its key's hash), DNS (the browser maps the Ingress host to the node's
stand-in address, as nip.io would resolve it), Chromium's own sandbox (it runs as root in the
gateway's namespace with --no-sandbox), and a second machine: the browser, the router and
the gateway share one network namespace, told apart by their addresses (router.py).
"""

from __future__ import annotations

import fcntl
import json
import queue
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moltgen.openclaw.install import Runtime, cache_root

from .pod import Boot
from .router import GATEWAY, ROUTER, UNLISTED_PORT, Route, Router

BROWSER = Path(__file__).parent / "browser.mjs"
PLAYWRIGHT = "1.65.1"
CHROMIUM = "chromium"  # Debian's package
JOURNEY_TIMEOUT = 300  # seconds for one URL's journey


def playwright_core(runtime: Runtime) -> Path:
    """playwright-core from the npm registry, installed once (a folder holding node_modules)."""
    prefix = cache_root() / f"playwright-core-{PLAYWRIGHT}"
    with open(cache_root() / ".playwright.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (prefix / "node_modules" / "playwright-core" / "package.json").is_file():
            prefix.mkdir(parents=True, exist_ok=True)
            result = subprocess.run([str(runtime.bin_dir / "npm"), "install", "--prefix", str(prefix),
                                     "--no-audit", "--no-fund", f"playwright-core@{PLAYWRIGHT}"],
                                    env=runtime.env(), capture_output=True, text=True, timeout=600,
                                    stdin=subprocess.DEVNULL, check=False)
            assert result.returncode == 0, result.stderr[-2000:]
    return prefix


@dataclass
class Visit:
    """One public URL's journey, as the browser and the operator saw it."""

    url: str  # without the token
    page_status: int = 0
    asked_to_pair: bool = False
    approved: list[str] = field(default_factory=list)  # the requestIds the operator approved
    reached: bool = False
    connects: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""


@dataclass
class Journey:
    route: Route
    visits: list[Visit]
    unlisted: Visit  # the same router on a port missing from allowedOrigins
    router_log: str
    stand_ins: str  # the loopback addresses that stand for the node and the router


def walk(boot: Boot, objects: list[dict[str, Any]], token: str, work: Path) -> Journey:
    """Every public origin of the built Ingress, one browser each, approved by the operator."""
    route = Route.of(objects, boot.view.container)
    router = Router(route, boot.process.pid, work / "router")
    playwright = playwright_core(boot.runtime)
    executable = shutil.which(CHROMIUM)
    assert executable, "Debian's chromium is missing: make system-deps"
    visits = []
    try:
        router.start()
        for origin in route.origins():
            visits.append(_visit(boot, router, playwright, executable, origin, token))
        unlisted = _visit(boot, router, playwright, executable,
                          f"https://{route.host}:{UNLISTED_PORT}", token)
    finally:
        router.stop()
    return Journey(route, visits, unlisted, router.log(),
                   f"{route.host} is {router.node}, the router {ROUTER}, the pod {GATEWAY}, "
                   f"all on the namespace's loopback")


def _visit(boot: Boot, router: Router, playwright: Path, executable: str, origin: str,
           token: str) -> Visit:
    visit = Visit(origin + "/")
    plan = {"playwright": str(playwright), "executable": executable, "host": router.route.host,
            "node": router.node, "spki": router.spki, "token": token,
            "url": f"{origin}/#token={token}", "timeoutMs": 60000}
    process = subprocess.Popen(["nsenter", "--target", str(boot.process.pid), "--net",
                                str(boot.runtime.node), str(BROWSER)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    deadline = time.monotonic() + JOURNEY_TIMEOUT
    try:
        process.stdin.write(json.dumps(plan) + "\n")
        process.stdin.flush()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                visit.error = "the journey did not end in time"
                break
            try:
                event = json.loads(lines.get(timeout=remaining))
            except queue.Empty:
                continue
            if event["event"] == "page":
                visit.page_status = event["status"]
            elif event["event"] == "pairing":
                visit.asked_to_pair = True
                visit.approved = _approve_pending(boot)
                process.stdin.write("approved\n")
                process.stdin.flush()
            elif event["event"] == "done":
                visit.reached = event["reached"]
                visit.connects, visit.sent = event["connects"], event["sent"]
                visit.error = event.get("error", "")
                break
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    return visit


def _approve_pending(boot: Boot) -> list[str]:
    """What the operator does: list the devices, approve each pending request."""
    listed = boot.exec("devices", "list", "--json")
    assert listed.returncode == 0, listed.stderr[-2000:]
    pending = _json_tail(listed.stdout).get("pending", [])
    approved = []
    for request in pending:
        result = boot.exec("devices", "approve", request["requestId"], "--json")
        assert result.returncode == 0, result.stderr[-2000:]
        approved.append(request["requestId"])
    return approved


def _json_tail(text: str) -> dict[str, Any]:
    """The JSON document a CLI printed after any banner lines."""
    start = text.find("{")
    return json.loads(text[start:]) if start >= 0 else {}
