"""Conformance: every rendered environment, and a 3-instance fleet delivered by Argo CD and by
Flux, booted for real on the OpenClaw release the image pins and on the newest one.

Each gateway runs as its Deployment would (tests/conformance/pod.py), side by side in their own
network namespaces (MOLTGEN_CONFORMANCE_JOBS at a time, default 4), and is probed from inside
its namespace by tests/conformance/client.mjs. The boots happen once per session; each test
asserts one property of every boot. MOLTGEN_CONFORMANCE_TIMEOUT bounds a boot (seconds).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from moltgen.spec.secret_keys import CHANNEL_KEYS

from .conftest import INSTANCES, RELEASES, plugin_state
from .journey import Journey, walk
from .pod import NAMESPACES, Boot, PodView

pytestmark = pytest.mark.conformance  # installs and runs the real OpenClaw (make test-fast skips it)

JOBS = int(os.environ.get("MOLTGEN_CONFORMANCE_JOBS", "4"))
TIMEOUT = float(os.environ.get("MOLTGEN_CONFORMANCE_TIMEOUT", "900"))
LABELS = ("repo/dev", "repo/prod", *(f"{engine}/prod/{name}" for engine in ("argocd", "flux")
                                     for name in INSTANCES))
CASES = [(release, label) for release in RELEASES for label in LABELS]
EVIL_ORIGIN = "https://evil.example"


@dataclass
class Outcome:
    view: PodView
    ready: bool
    seconds: float
    channels_started: dict[str, bool]
    client: dict[str, Any]
    journey: Journey | None
    log: str
    notes: list[str]


def enabled_channels(view: PodView) -> list[str]:
    names = {item["name"] for item in view.container.get("env", [])}
    return [channel for channel, keys in CHANNEL_KEYS.items() if keys[0].env_var in names]


def boot(release: str, runtime, view: PodView, objects, root) -> Outcome:
    gateway = Boot(view, runtime, root, state_template=plugin_state(runtime))
    try:
        gateway.start()
        ready = gateway.wait_for(r"\[gateway\] ready", TIMEOUT)
        if not ready and gateway.process.poll() is not None:
            # The container exited before it was ready. On an overloaded machine 2026.9.6
            # can miss its own 5 s state-lease deadline ("state lease heartbeat did not become
            # ready"); the kubelet restarts the container, and so does this, once, on a
            # fresh copy of the state.
            crashed = gateway.log()[-300:]
            gateway = Boot(view, runtime, root / "restarted", state_template=plugin_state(runtime))
            gateway.notes.append(f"restarted once after: {crashed}")
            gateway.start()
            ready = gateway.wait_for(r"\[gateway\] ready", TIMEOUT)
        seconds = time.monotonic() - gateway.started
        channels = {name: gateway.wait_for(rf"\[{name}\] \[default\] starting provider", 120 if ready else 0)
                    for name in enabled_channels(view)}
        token = view.secret["gatewayToken"]
        backend = {"clientId": "gateway-client", "mode": "backend"}
        browser = {"clientId": "openclaw-control-ui", "mode": "ui", "token": token}
        client = gateway.client({
            "probes": sorted(set(view.probes.values())),
            "handshakes": {
                "no-token": backend,
                "wrong-token": {**backend, "token": "not-the-" + token[:4]},
                "token": {**backend, "token": token},
                "foreign-origin": {**browser, "origin": EVIL_ORIGIN},
                "ingress-origin": {**browser, "origin": view.ingress_origin},
            }}) if ready else {}
        journey = walk(gateway, objects, token, root / "journey") if ready and NAMESPACES else None
    finally:
        gateway.stop()
    return Outcome(view, ready, seconds, channels, client, journey, gateway.log(), gateway.notes)


@pytest.fixture(scope="session")
def outcomes(request, runtimes, overlays, tmp_path_factory) -> dict[tuple[str, str], Outcome]:
    # only the cases of the selected tests (`-k 2026.9.6-repo/prod` boots one gateway)
    selected = {item.callspec.params["outcome"] for item in request.session.items
                if hasattr(item, "callspec") and "outcome" in item.callspec.params}
    work = tmp_path_factory.mktemp("boots")
    for release in {release for release, _ in selected}:
        plugin_state(runtimes[release])  # once, before the boots that copy it
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        futures = {
            (release, label): pool.submit(boot, release, runtimes[release],
                                          PodView.of(label, overlays[label]), overlays[label],
                                          work / release / label.replace("/", "-"))
            for release, label in CASES if (release, label) in selected}
        results = {case: future.result() for case, future in futures.items()}
    print(f"\nconformance: {len(results)} gateways booted in {time.monotonic() - started:.0f} s "
          f"(namespaces: {NAMESPACES}); per boot: " +
          ", ".join(f"{r}/{l} {o.seconds:.0f}s" for (r, l), o in results.items()))
    return results


@pytest.fixture(params=CASES, ids=[f"{r}-{l}" for r, l in CASES])
def outcome(request, outcomes) -> Outcome:
    return outcomes[request.param]


def test_the_gateway_starts(outcome):
    assert outcome.ready, outcome.log[-3000:]


def test_each_probe_answers_as_the_probe_expects(outcome):
    probes = outcome.client["probes"]
    for kind, path in outcome.view.probes.items():
        status = probes[path]
        if kind in ("startup", "liveness"):
            assert status == 200, (kind, path, status)
        else:
            # readiness: 503 while a channel cannot connect (test tokens, no network here);
            # anything else failing would be a deployment problem
            assert status in (200, 503), (kind, path, status)
    assert set(outcome.view.probes) == {"startup", "liveness", "readiness"}


def test_readiness_fails_only_for_channels_that_cannot_log_in(outcome):
    path = outcome.view.probes["readiness"]
    body = outcome.client["bodies"][path]
    if outcome.client["probes"][path] == 200:
        assert body["ready"] is True
    else:
        assert body["ready"] is False
        assert set(body["failing"]) <= set(enabled_channels(outcome.view)), body


def test_a_client_without_the_token_is_refused_and_one_with_it_accepted(outcome):
    shakes = outcome.client["handshakes"]
    assert shakes["no-token"]["outcome"] == "refused"
    assert shakes["wrong-token"]["outcome"] == "refused"
    assert "unauthorized" in shakes["wrong-token"]["message"]
    assert shakes["token"] == {"outcome": "accepted"}


def test_an_origin_outside_allowed_origins_is_refused_and_the_ingress_origin_is_not(outcome):
    shakes = outcome.client["handshakes"]
    assert outcome.view.ingress_origin in outcome.view.allowed_origins
    assert shakes["foreign-origin"]["outcome"] == "refused"
    assert "origin not allowed" in shakes["foreign-origin"]["message"]
    # the ingress origin passes the origin check; the Control UI then asks the browser for
    # its device identity (pairing stays on: dangerouslyDisableDeviceAuth is false)
    assert "origin not allowed" not in shakes["ingress-origin"].get("message", "")
    assert shakes["ingress-origin"]["outcome"] in ("accepted", "refused")


def test_each_enabled_channel_starts_and_no_disabled_one(outcome):
    assert outcome.channels_started and all(outcome.channels_started.values()), \
        (outcome.channels_started, outcome.log[-3000:])
    for channel in set(CHANNEL_KEYS) - set(outcome.channels_started):
        assert f"[{channel}] [default] starting provider" not in outcome.log


def test_no_secret_value_in_the_gateways_output(outcome):
    for key, value in outcome.view.secret.items():
        assert value and value not in outcome.log, key


def test_the_seeds_user_reaches_the_control_ui_at_every_public_origin(outcome):
    """Chromium opens each public URL with the token (#token=), through the router; the
    gateway asks for the device to be paired (1008 pairing required), the operator approves it
    in the pod, and the browser reaches the chat."""
    if not NAMESPACES:
        pytest.skip("the router and the browser run in the gateway's network namespace (root)")
    journey = outcome.journey
    print(f"\n{outcome.view.label}: loopback stand-ins: {journey.stand_ins}")
    assert [visit.url for visit in journey.visits] == [f"{o}/" for o in journey.route.origins()]
    assert journey.route.ports[1:], "the router's own port (publicPorts) is among the origins"
    for visit in journey.visits:
        print(f"  {visit.url}: page {visit.page_status}, connects {visit.connects}, "
              f"approved {len(visit.approved)}, reached {visit.reached} {visit.error}")
        where = (visit.url, visit.error, visit.connects, visit.sent, journey.router_log[-1500:])
        assert visit.page_status == 200, where
        assert visit.connects and "origin not allowed" not in visit.connects[0]["message"], where
        assert visit.asked_to_pair and "pairing required" in visit.connects[0]["message"], where
        assert len(visit.approved) == 1, where
        assert visit.reached, where
        assert visit.connects[-1]["ok"], where
        assert visit.sent[0]["token"] == "matches", where  # the fragment's token, as sent
    # the same router on a port no user is told of: its origin is refused, never paired
    unlisted = journey.unlisted
    assert unlisted.page_status == 200, unlisted
    assert unlisted.connects and "origin not allowed" in unlisted.connects[0]["message"], unlisted
    assert not unlisted.asked_to_pair and not unlisted.approved, unlisted
