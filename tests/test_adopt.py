"""`moltgen init --from`: an existing deployment becomes a spec; its Secret values go straight
into sops-encrypted files, never into the spec and never onto disk in plaintext."""

import base64
import secrets
import shutil
from pathlib import Path

import pytest
from support import run_moltgen, snapshot

from moltgen.core.yamlio.parse import load_documents, load_file
from moltgen.kustomize import engine as kustomize

SEED = Path(__file__).parent / "data" / "seed"


@pytest.fixture
def keys(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "SOPS_AGE_KEY_FILE": str(tmp_path / "keys.txt")}
    result = run_moltgen("secrets", "keygen", cwd=tmp_path, env=env)
    assert result.code == 0, result.stderr
    return env, result.stdout.split()[-1]


def built(root, env):
    return {(o["kind"], o["metadata"]["name"]): o
            for o in (d.data for d in load_documents(kustomize.build(root / "overlays" / env), "build"))}


def test_the_seed_deployment_is_adopted_and_renders_an_equivalent_tree(tmp_path, keys):
    env, recipient = keys
    result = run_moltgen("init", "project", "--from", str(SEED), "--age-recipient", recipient,
                         cwd=tmp_path, env=env)
    assert result.code == 0, result.stderr
    root = tmp_path / "project"
    assert "not mapped: " in result.stderr and "Ingress pathType: moltgen renders Prefix" in result.stderr
    objects = built(root, "prod")
    [seed_ingress] = [d.data for d in load_file(SEED / "ingress.yaml")]
    ingress = objects[("Ingress", "clawdbot")]
    assert ingress["metadata"]["namespace"] == seed_ingress["metadata"]["namespace"] == "extension-clawdbot"
    assert ingress["spec"]["ingressClassName"] == seed_ingress["spec"]["ingressClassName"]
    assert ingress["spec"]["tls"] == seed_ingress["spec"]["tls"]
    assert ingress["spec"]["rules"][0]["host"] == seed_ingress["spec"]["rules"][0]["host"]
    path, seed_path = (i["spec"]["rules"][0]["http"]["paths"][0] for i in (ingress, seed_ingress))
    assert path["backend"] == seed_path["backend"] and path["path"] == seed_path["path"]
    for key, value in seed_ingress["metadata"]["annotations"].items():
        assert ingress["metadata"]["annotations"][key] == value
    # The Secret the values file declared: every key, encrypted; the gateway token generated.
    secret = objects[("Secret", "clawdbot")]
    assert set(secret["stringData"]) == {"anthropicApiKey", "openaiApiKey", "discordBotToken",
                                         "telegramBotToken", "gatewayToken"}
    assert secret["stringData"]["gatewayToken"].startswith("ENC[")
    service = objects[("Service", "clawdbot")]
    assert service["spec"]["ports"][0]["port"] == seed_path["backend"]["service"]["port"]["number"]
    assert run_moltgen("render", "--check", cwd=root, env=env).code == 0


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: assistant, namespace: team-a}
spec:
  selector: {matchLabels: {app: assistant}}
  template:
    metadata: {labels: {app: assistant}}
    spec:
      tolerations: [{key: dedicated, operator: Exists, effect: NoSchedule}]
      containers:
        - name: gateway
          image: ghcr.io/openclaw/openclaw:2026.8.1
          ports: [{containerPort: 18789}]
          env:
            - {name: TZ, value: Europe/Berlin}
            - name: ANTHROPIC_API_KEY
              valueFrom: {secretKeyRef: {name: assistant, key: anthropicApiKey}}
          resources: {requests: {cpu: 200m, memory: 1Gi}, limits: {memory: 3Gi}}
        - name: exporter
          image: ghcr.io/example/exporter:1.2.3
      volumes:
        - {name: state, persistentVolumeClaim: {claimName: assistant-state}}
---
apiVersion: v1
kind: Service
metadata: {name: assistant, namespace: team-a}
spec: {ports: [{port: 18789}]}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: assistant-state, namespace: team-a}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 20Gi}}, storageClassName: fast}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: assistant-config, namespace: team-a}
data:
  openclaw.json: '{"agents": {"defaults": {"model": "anthropic/claude-opus-4-5"}}}'
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: assistant, namespace: team-a}
spec: {selector: {matchLabels: {app: assistant}}, endpoints: [{port: http}]}
"""

API_KEY = "sk-ant-imported-" + secrets.token_hex(12)  # made per run: a canary, never a committed key


def secret_manifest():
    encoded = base64.b64encode(API_KEY.encode()).decode()
    return ("apiVersion: v1\nkind: Secret\nmetadata: {name: assistant, namespace: team-a}\n"
            f"data: {{anthropicApiKey: {encoded}, legacyKey: {base64.b64encode(b'old-secret-xyz').decode()}}}\n")


def test_a_folder_of_manifests_is_adopted_and_its_secret_values_are_only_ever_encrypted(tmp_path, keys):
    env, recipient = keys
    source = tmp_path / "manifests"
    source.mkdir()
    (source / "app.yaml").write_text(DEPLOYMENT)
    (source / "secret.yaml").write_text(secret_manifest())
    result = run_moltgen("init", "project", "--from", str(source), "--age-recipient", recipient,
                         cwd=tmp_path, env=env)
    assert result.code == 0, result.stderr
    root = tmp_path / "project"
    # Never in plaintext: not in the spec, not in any file written, not in the output.
    for path, content in snapshot(root).items():
        assert API_KEY.encode() not in content and b"old-secret-xyz" not in content, path
    assert API_KEY not in result.stdout + result.stderr and "old-secret-xyz" not in result.stderr
    got = run_moltgen("secrets", "get", "prod", "anthropicApiKey", cwd=root, env=env)
    assert got.code == 0 and got.stdout.strip() == API_KEY
    assert "Secret key legacyKey: no provider or channel of moltgen uses it" in result.stderr
    assert "ServiceMonitor assistant: kept as it is, under extraResources" in result.stderr

    spec = load_file(root / "moltgen.yaml")[0].data
    assert spec["name"] == "assistant" and spec["namespace"] == "team-a"
    assert spec["image"] == {"repository": "ghcr.io/openclaw/openclaw", "tag": "2026.8.1"}
    assert spec["persistence"] == {"enabled": True, "size": "20Gi", "storageClass": "fast",
                                   "accessMode": "ReadWriteOnce"}
    assert spec["config"] == {"agents": {"defaults": {"model": "anthropic/claude-opus-4-5"}}}
    assert spec["pod"]["env"] == [{"name": "TZ", "value": "Europe/Berlin"}]
    objects = built(root, "prod")
    pod = objects[("Deployment", "assistant")]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["gateway", "exporter"]
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["containers"][0]["resources"]["limits"]["memory"] == "3Gi"
    assert objects[("ServiceMonitor", "assistant")]["metadata"]["namespace"] == "team-a"


def test_secret_values_without_a_recipient_are_refused_and_nothing_is_written(tmp_path):
    source = tmp_path / "manifests"
    source.mkdir()
    (source / "secret.yaml").write_text(secret_manifest())
    result = run_moltgen("init", "project", "--from", str(source), cwd=tmp_path)
    assert result.code == 2
    assert result.stderr == ("moltgen: --from: found 1 Secret value(s) to import; give "
                             "--age-recipient (`moltgen secrets keygen` prints one) so they are "
                             "encrypted, never written in plaintext\n")
    assert not (tmp_path / "project").exists() or not any((tmp_path / "project").iterdir())


def test_adopting_nothing_importable_says_so(tmp_path):
    shutil.copy(SEED / "README.md", tmp_path / "README.md")
    result = run_moltgen("init", "project", "--from", str(tmp_path), cwd=tmp_path)
    assert result.code == 2 and "no YAML file to import here" in result.stderr
