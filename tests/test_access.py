"""`moltgen access`: the names render gave each overlay, the URLs users open, commands that copy
the token without showing it, and the pairing commands as the rendered Deployment runs the
gateway. The token itself never appears in what the command prints."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from pyrage import x25519
from support import REPO, isolate_sops, run_moltgen

from moltgen.core.yamlio.parse import load_file
from moltgen.render.access import VALUES_FIELD, gateway_cli


def access_json(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> list[dict]:
    result = run_moltgen("access", *args, "--format", "json", cwd=cwd, env=env)
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["version"] == 1
    return document["targets"]


def test_this_repository_prod_is_the_seeds_url_with_the_token_in_the_fragment():
    [prod] = access_json("prod")
    assert prod["urls"] == ["https://172.31.19.4.nip.io:32045/#token=<token>",
                            "https://172.31.19.4.nip.io/#token=<token>"]
    assert (prod["namespace"], prod["deployment"], prod["secret"]) == (
        "extension-clawdbot", "clawdbot",
        {"name": "clawdbot", "key": "gatewayToken", "file": "overlays/prod/secret.enc.yaml"})
    assert not any("?token=" in url for url in prod["urls"])
    text = run_moltgen("access", "prod", cwd=REPO)
    assert text.code == 0 and "https://172.31.19.4.nip.io:32045/#token=<token>" in text.stdout
    assert "1008 pairing required" in text.stdout


def test_the_pairing_commands_run_the_cli_the_rendered_deployment_runs():
    [document] = load_file(REPO / "base" / "deployment.yaml")
    [container] = document.data["spec"]["template"]["spec"]["containers"]
    assert container["command"][-1] == "gateway" and "workingDir" not in container
    [dev] = access_json("dev")
    cli = shlex.join(container["command"][:-1])  # node dist/index.js, from the image's workdir
    prefix = f"kubectl -n clawdbot-dev exec deploy/clawdbot -c {container['name']} -- {cli} devices"
    assert dev["commands"]["devicesList"] == f"{prefix} list --json"
    assert dev["commands"]["devicesApprove"] == f"{prefix} approve '<requestId>' --json"


@pytest.mark.parametrize("command, cli", [
    (["node", "dist/index.js", "gateway"], ("node", "dist/index.js")),
    (["openclaw", "gateway", "--verbose"], ("openclaw",)),
    (["/bin/sh", "-c", "exec node dist/index.js gateway"], ("node", "dist/index.js")),
])
def test_the_gateway_cli_is_its_command_without_the_gateway_subcommand(command, cli):
    assert gateway_cli(command) == cli


def test_the_repository_read_names_the_field_the_secrets_are_written_in():
    from moltgen.secrets.manifest import VALUES_FIELD as WRITTEN

    assert VALUES_FIELD == WRITTEN


FLEET = """\
name: bot
namespace: bots
gateway:
  auth: {mode: password}
  controlUi: {allowedOrigins: ["http://127.0.0.1:18789"]}
environments:
  prod: {}
instances:
  - name: alice
  - name: bob
    overrides:
      ingress: {enabled: true, host: bob.example.com}
"""


def test_a_fleet_lists_every_instance_and_one_with_instance(tmp_path):
    (tmp_path / "moltgen.yaml").write_text(FLEET)
    every = access_json("prod", cwd=tmp_path)
    assert [(t["instance"], t["namespace"]) for t in every] == [("alice", "bots-alice"),
                                                                ("bob", "bots-bob")]
    alice, bob = every
    assert alice["urls"] == [] and alice["portForward"]["allowed"] is True
    # password auth: no token fragment, the password is typed into the Control UI
    assert bob["urls"] == ["https://bob.example.com/"] and bob["secret"]["key"] == "gatewayPassword"
    assert bob["secret"]["file"] is None  # no age recipient: no encrypted Secret rendered
    assert bob["commands"]["copyFromRepository"] is None
    assert [t["instance"] for t in access_json("prod", "--instance", "bob", cwd=tmp_path)] == ["bob"]
    text = run_moltgen("access", "prod", cwd=tmp_path).stdout
    assert "prod/alice: namespace bots-alice" in text and "prod/bob: namespace bots-bob" in text
    assert "no ingress: reach it through the port-forward below" in text


@pytest.mark.parametrize("args, message", [
    (("prd",), "moltgen: moltgen.yaml: no environment 'prd' in the spec (did you mean 'prod'?)\n"),
    (("prod", "--instance", "alcie"),
     "moltgen: moltgen.yaml: no instance 'alcie' in the spec (did you mean 'alice'?)\n"),
    (("prod", "--format", "yaml"), "moltgen: --format: must be text or json\n"),
])
def test_an_unknown_environment_or_instance_is_one_located_line_exit_2(tmp_path, args, message):
    (tmp_path / "moltgen.yaml").write_text(FLEET)
    result = run_moltgen("access", *args, cwd=tmp_path)
    assert (result.code, result.stdout, result.stderr) == (2, "", message)


def test_the_token_is_never_printed_and_the_copy_command_carries_it(tmp_path, monkeypatch):
    """A real render with a known token and the private key at hand: access still prints
    no token, and the printed command puts the URL with the token into the clipboard (a
    stand-in xclip here) while the terminal stays empty."""
    home = isolate_sops(monkeypatch, tmp_path / "home")
    identity = x25519.Identity.generate()
    key_file = home / "keys.txt"
    key_file.write_text(f"{identity}\n")
    keyed = {**{k: v for k, v in os.environ.items() if not k.startswith("SOPS_")},
             "HOME": str(home), "SOPS_AGE_KEY_FILE": str(key_file)}
    token = "tok-" + os.urandom(12).hex()  # made per run: no key-shaped string committed
    project = tmp_path / "repo"
    project.mkdir()
    (project / "moltgen.yaml").write_text(f"""\
name: clawdbot
namespace: extension-clawdbot
sops: {{ageRecipients: [{identity.to_public()}]}}
ingress: {{enabled: true, host: claw.example.com, publicPorts: [32045]}}
environments:
  dev: {{}}
""")
    assert run_moltgen("render", cwd=project, env=keyed).code == 0
    stored = run_moltgen("secrets", "set", "dev", "gatewayToken", "--from-env", "TOKEN",
                         cwd=project, env={**keyed, "TOKEN": token})
    assert stored.code == 0, stored.stderr
    for fmt in ("text", "json"):
        shown = run_moltgen("access", "dev", "--format", fmt, cwd=project, env=keyed)
        assert shown.code == 0 and token not in shown.stdout + shown.stderr
    [dev] = access_json("dev", cwd=project, env=keyed)
    assert dev["urls"][0] == "https://claw.example.com:32045/#token=<token>"
    clipboard = tmp_path / "clipboard"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "xclip").write_text(f"#!/bin/sh\ncat > {shlex.quote(str(clipboard))}\n")
    (bin_dir / "xclip").chmod(0o755)
    sops_dir = Path(_sops_binary()).parent
    copied = subprocess.run(["bash", "-c", dev["commands"]["copyFromRepository"]], cwd=project,
                            capture_output=True, text=True, timeout=60, check=False,
                            env={**keyed, "PATH": f"{bin_dir}:{sops_dir}:{os.environ['PATH']}"})
    assert copied.returncode == 0, copied.stderr
    assert token not in copied.stdout + copied.stderr
    assert clipboard.read_text() == f"https://claw.example.com:32045/#token={token}"


def _sops_binary() -> str:
    from moltgen.secrets.sops import sops_binary

    return str(sops_binary())


def test_the_example_in_docs_access_md_is_what_the_command_prints():
    text = (REPO / "docs" / "access.md").read_text(encoding="utf-8")
    example = text.split("$ moltgen access prod\n", 1)[1].split("```", 1)[0].splitlines()
    printed = run_moltgen("access", "prod", cwd=REPO).stdout.splitlines()
    shown = [line for line in example if "..." not in line]
    assert len(shown) >= 10 and all(line in printed for line in shown)
    for line in example:  # an abbreviated line is a printed line cut short
        head = line.split("...", 1)[0]
        assert any(p.startswith(head) for p in printed), line
