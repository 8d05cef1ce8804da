"""`moltgen access ENV [--instance NAME] [--format text|json]`: how to reach each overlay of
ENV, with the names render gave it (moltgen.render.access). Read-only: in a fleet, without
--instance, every instance of ENV. The gateway token is never read: the commands printed read
it when the operator runs them, into the clipboard, never onto the terminal.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from moltgen.core.errors import MoltgenError, Problem
from moltgen.core.terminal import safe

if TYPE_CHECKING:  # the spec and render load only when the command runs
    from moltgen.render.access import Access

FORMATS = ("text", "json")
# The JSON output's shape (docs/access.md); a change that breaks a reader bumps it.
JSON_VERSION = 1


def register(app: typer.Typer) -> None:
    app.command("access")(access)


def access(
    env: Annotated[str, typer.Argument(help="The environment, as named in the spec.")],
    instance: Annotated[str | None, typer.Option(help="Only this instance of a fleet (default: every instance of ENV).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    spec: Annotated[Path, typer.Option("--spec", "-f", help="The spec file.")] = Path("moltgen.yaml"),
) -> None:
    """Print how to reach ENV: the URLs users open, how to copy the token without showing it,
    the device-pairing commands and a port-forward fallback."""
    from moltgen.project import load_project
    from moltgen.render.access import access as plan

    if fmt not in FORMATS:
        # what was typed is not repeated (a usage error never does: it may be a pasted secret)
        raise MoltgenError(Problem(f"must be {' or '.join(FORMATS)}", field="--format"))
    found = plan(load_project(spec), env, instance)
    if fmt == "json":
        document = {"version": JSON_VERSION, "targets": [as_json(one) for one in found]}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return
    sys.stdout.write(safe("\n\n".join("\n".join(as_text(one)) for one in found)) + "\n")


def _commands(one: Access) -> dict[str, str | None]:
    url = one.urls[0] if one.urls else None
    repository = one.read_from_repository()
    return {
        "copyFromCluster": one.to_clipboard(one.read_from_cluster(), url),
        "copyFromRepository": one.to_clipboard(repository, url) if repository else None,
        "devicesList": one.devices_list(),
        "devicesApprove": one.devices_approve(),
        "portForward": one.port_forward(),
    }


def as_json(one: Access) -> dict[str, Any]:
    return {
        "environment": one.environment, "instance": one.instance, "namespace": one.namespace,
        "deployment": one.deployment, "container": one.container,
        "secret": {"name": one.secret, "key": one.key, "file": one.secret_file},
        "auth": one.auth, "controlUi": one.control_ui, "pairing": one.pairing, "urls": list(one.urls),
        "portForward": {"url": one.port_forward_url, "origin": one.port_forward_origin,
                        "allowed": one.port_forward_allowed},
        "commands": _commands(one),
    }


def as_text(one: Access) -> list[str]:
    commands = _commands(one)
    lines = [f"{one.label}: namespace {one.namespace}, Deployment {one.deployment} (container "
             f"{one.container}), Secret {one.secret} key {one.key}"]
    if not one.control_ui:
        lines.append("  the Control UI is off (gateway.controlUi.enabled: false)")
    elif one.urls:
        token = " (the token in the fragment: ?token= is deprecated)" if one.auth == "token" else ""
        lines += [f"  open{token}:", *(f"    {url}" for url in one.urls)]
    else:
        lines.append("  no ingress: reach it through the port-forward below")
    what = "the first URL with the token" if one.auth == "token" and one.urls else f"the {one.key}"
    lines += [f"  copy {what} to the clipboard (never shown on the terminal; macOS: pbcopy, "
              "Wayland: wl-copy):",
              f"    from the cluster:    {commands['copyFromCluster']}"]
    if commands["copyFromRepository"]:
        lines.append(f"    from the repository: {commands['copyFromRepository']}  (needs the age key)")
    if one.pairing:
        lines += ["  pairing: a new browser is refused with \"1008 pairing required\"; approve it:",
                  f"    {commands['devicesList']}",
                  f"    {commands['devicesApprove']}"]
    else:
        lines.append("  pairing is off (gateway.controlUi.dangerouslyDisableDeviceAuth)")
    allowed = "is in allowedOrigins" if one.port_forward_allowed else (
        "is not in allowedOrigins: add it to gateway.controlUi.allowedOrigins in the spec and "
        "render, or the connect closes with \"1008 origin not allowed\"")
    lines += ["  port-forward fallback:", f"    {commands['portForward']}",
              f"    then open {one.port_forward_url}; its origin {one.port_forward_origin} {allowed}"]
    return lines
