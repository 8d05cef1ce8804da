"""The README's tutorial runs as written: its `sh` blocks are taken from README.md and run in
order by bash, so the text a reader copies and the text tested are the same.

The last block needs a cluster (kubectl, flux), which no machine here can reach: for it the
test does what those commands make Flux do, with the real tools: `kubectl apply -k DIR` applies
`kustomize build DIR`; each Flux Kustomization it creates builds its `path` and decrypts the
Secret there with sops and the age key handed over as `sops-age`.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

from support import REPO
from test_delivery import sops_decrypt

from moltgen.core.yamlio.parse import load_documents
from moltgen.kustomize import engine as kustomize

MARKER = re.compile(r"<!-- tutorial(: cluster)? -->\n```sh\n(.*?)```", re.DOTALL)
API_KEY = "sk-ant-tutorial-0123456789"


def tutorial_blocks() -> list[tuple[bool, str]]:
    """(needs a cluster, commands) for each marked block of the README, in order."""
    return [(bool(match[1]), match[2]) for match in MARKER.finditer((REPO / "README.md").read_text())]


def test_the_readme_has_a_tutorial_ending_on_a_cluster():
    blocks = tutorial_blocks()
    assert len(blocks) >= 2 and not blocks[0][0] and blocks[-1][0]
    assert blocks[0][1].startswith("moltgen init ")


def test_the_tutorial_runs_as_written_and_flux_would_sync_it(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SOPS_")},
           "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "SOPS_AGE_KEY_FILE": str(home / ".config/sops/age/keys.txt"),
           "ANTHROPIC_API_KEY": API_KEY,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    local = "".join(commands for cluster, commands in tutorial_blocks() if not cluster)
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", local], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and API_KEY not in result.stdout + result.stderr
    root = tmp_path / "assistant"

    [cluster] = [commands for needs_cluster, commands in tutorial_blocks() if needs_cluster]
    applied = re.findall(r"^kubectl apply -k (\S+)$", cluster, re.MULTILINE)
    assert applied == ["gitops/flux/"]
    synced = [d.data for d in load_documents(kustomize.build(root / applied[0]), "flux")]
    kustomizations = {o["metadata"]["name"]: o for o in synced
                      if o["kind"] == "Kustomization" and o["spec"].get("decryption")}
    reconciled = re.search(r"^flux reconcile kustomization (\S+)", cluster, re.MULTILINE)[1]
    flux = kustomizations[reconciled]
    assert flux["spec"]["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}
    assert "secret generic sops-age --from-file=age.agekey=\"$SOPS_AGE_KEY_FILE\"" in cluster
    overlay = [d.data for d in load_documents(kustomize.build(root / flux["spec"]["path"]), "overlay")]
    kinds = {o["kind"] for o in overlay}
    assert {"Deployment", "Service", "Secret", "ConfigMap"} <= kinds
    [secret] = [o for o in overlay if o["kind"] == "Secret"]
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", env["SOPS_AGE_KEY_FILE"])
    assert sops_decrypt(secret, ignore_mac=True)["stringData"]["anthropicApiKey"] == API_KEY
