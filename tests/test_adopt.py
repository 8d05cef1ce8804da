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


# Helm values shaped like the KubeSphere extension's beside the chart's own keys, as issue 23
# found them dropped: written for this test (every value a placeholder).
FAITHFUL_VALUES = """\
global:
  imageRegistry: registry.example.com
  storageClass: fast-ssd
clawdbot:
  image: {repository: openclaw/openclaw, tag: "2026.8.1"}
  persistence:
    state: {enabled: true, size: 20Gi, storageClass: local-path, accessModes: [ReadWriteOnce]}
    workspace: {enabled: true, size: 50Gi}
  gateway: {port: 18800, bind: lan, trustedProxies: [10.0.0.0/24], logLevel: debug}
  probes:
    liveness: {enabled: true, periodSeconds: 20, httpGet: {port: 18800}}
  config: '{"agents": {"defaults": {"model": "anthropic/claude"}}}'
  nodeSelector: {kubernetes.io/arch: amd64}
  tolerations: [{key: dedicated, operator: Equal, value: ai, effect: NoSchedule}]
  affinity: {nodeAffinity: {}}
  podAnnotations: {example.com/team: assistants}
  extraEnv: {TZ: Europe/Berlin}
  initContainers: [{name: config-seed, image: "busybox:1.36", volumeMounts: [{name: seed, mountPath: /seed}]}]
  extraVolumes: [{name: seed, emptyDir: {}}]
  replicaCount: 1
ingress:
  enabled: true
  className: nginx
  hosts: [{host: bot.example.com, paths: [{path: /}]}, {host: other.example.com}]
"""


def test_helm_values_are_mapped_or_listed_with_their_line_never_dropped(tmp_path):
    from moltgen.project.adopt import adopt

    values = tmp_path / "values.yaml"
    values.write_text(FAITHFUL_VALUES)
    adoption = adopt(values)
    spec = adoption.spec
    assert spec["image"]["repository"] == "registry.example.com/openclaw/openclaw"
    assert spec["ingress"]["host"] == "bot.example.com" and spec["ingress"]["className"] == "nginx"
    assert spec["persistence"] == {"enabled": True, "size": "20Gi", "storageClass": "local-path",
                                   "accessMode": "ReadWriteOnce"}
    assert spec["gateway"] == {"port": 18800, "bind": "lan", "trustedProxies": ["10.0.0.0/24"]}
    assert spec["probes"] == {"liveness": {"enabled": True, "periodSeconds": 20}}
    assert spec["config"] == {"agents": {"defaults": {"model": "anthropic/claude"}}}
    pod = spec["pod"]
    assert pod["nodeSelector"] == {"kubernetes.io/arch": "amd64"} and pod["affinity"] == {"nodeAffinity": {}}
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert pod["annotations"] == {"example.com/team": "assistants"}
    assert pod["env"] == [{"name": "TZ", "value": "Europe/Berlin"}]
    assert pod["initContainers"][0]["name"] == "config-seed" and pod["volumes"] == [{"name": "seed", "emptyDir": {}}]
    lines = FAITHFUL_VALUES.splitlines()
    listed = {note.split(": ")[1]: int(note.split(":")[1]) for note in adoption.unmapped}
    for what in ("global.storageClass", "clawdbot.persistence.workspace", "clawdbot.gateway.logLevel",
                 "clawdbot.probes.liveness.httpGet", "clawdbot.replicaCount", "ingress.hosts[1]"):
        assert what in listed, adoption.unmapped
        key = what.split(".")[-1].split("[")[0]
        assert key in lines[listed[what] - 1] or "other.example.com" in lines[listed[what] - 1], what


def test_adopted_faithful_values_render(tmp_path, keys):
    env, recipient = keys
    (tmp_path / "values.yaml").write_text(FAITHFUL_VALUES)
    result = run_moltgen("init", "project", "--from", str(tmp_path / "values.yaml"),
                         "--age-recipient", recipient, cwd=tmp_path, env=env)
    assert result.code == 0, result.stderr
    assert "clawdbot.persistence.workspace" in result.stderr
    assert run_moltgen("render", "--check", cwd=tmp_path / "project", env=env).code == 0


UPSTREAM_CHART = Path(__file__).parent / "corpus" / "adopt" / "clawdbot-chart" / "values.yaml"


def test_the_upstream_charts_values_are_mapped_or_listed_every_key(tmp_path):
    """The upstream clawdbot chart's values.yaml (tests/corpus/README.md): each top-level key
    that holds a value is in the spec or listed at its line; its two claims keep the state one
    and list the workspace one; its clawdbot.json keys that 2026.9.6 refuses are listed."""
    from moltgen.core.yamlio.parse import load_file
    from moltgen.project.adopt import adopt

    adoption = adopt(UPSTREAM_CHART)
    [values] = [d.data for d in load_file(UPSTREAM_CHART)]
    lines = UPSTREAM_CHART.read_text().splitlines()
    listed = {note.split(": ")[1] for note in adoption.unmapped}
    mapped = {"image", "podAnnotations", "podLabels", "resources", "nodeSelector", "tolerations",
              "affinity", "gateway", "ingress", "persistence", "probes", "extraEnv", "extraVolumes",
              "extraVolumeMounts", "config"}
    for key, value in values.items():
        if value in (None, "", [], {}):
            continue  # the chart's unset defaults
        assert key in mapped or key in listed, key
    for note in adoption.unmapped:  # each names its line, and the line holds the key
        file, line = note.split(":")[:2]
        key = note.split(": ")[1].split(".")[-1]
        assert file == str(UPSTREAM_CHART) and key in lines[int(line) - 1], note
    assert adoption.spec["persistence"] == {"enabled": True, "size": "5Gi", "accessMode": "ReadWriteOnce"}
    assert "persistence.workspace" in listed
    assert adoption.spec["gateway"] == {"port": 18789, "bind": "lan"}
    assert adoption.spec["probes"]["liveness"]["periodSeconds"] == 20
    assert adoption.spec["ingress"]["enabled"] is False
    assert adoption.spec["config"]["channels"]["whatsapp"]["allowFrom"] == ["+15555550123"]


def test_the_upstream_chart_is_adopted_into_a_spec_that_renders(tmp_path):
    result = run_moltgen("init", "project", "--from", str(UPSTREAM_CHART), cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "config.bridge: unknown field 'bridge'" in result.stderr  # listed, the rest kept
    spec = (tmp_path / "project" / "moltgen.yaml").read_text()
    assert "whatsapp:" in spec and "bridge:" not in spec
    assert run_moltgen("render", "--check", cwd=tmp_path / "project").code == 0


# Two claims as a chart that keeps state and workspace apart renders them (names as the
# upstream chart's pvc.yaml gives them; written for this test).
TWO_CLAIMS = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: team-clawdbot-workspace, namespace: bots}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 50Gi}}, storageClassName: bulk}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: team-clawdbot-state, namespace: bots}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 5Gi}}, storageClassName: fast}
"""


def test_two_claims_keep_the_state_one_as_persistence_and_the_other_as_it_is(tmp_path):
    from moltgen.project.adopt import adopt

    (tmp_path / "pvc.yaml").write_text(TWO_CLAIMS)
    adoption = adopt(tmp_path / "pvc.yaml")
    assert adoption.spec["persistence"] == {"enabled": True, "size": "5Gi", "storageClass": "fast",
                                           "accessMode": "ReadWriteOnce"}
    [kept] = adoption.extra
    assert kept["metadata"]["name"] == "team-clawdbot-workspace"
    assert kept["spec"]["storageClassName"] == "bulk"
    assert any(note.startswith(f"{tmp_path / 'pvc.yaml'}:1:") and "team-clawdbot-workspace" in note
               for note in adoption.unmapped), adoption.unmapped


# A gateway whose init container seeds the config from a ConfigMap volume named like one of
# moltgen's own (written for this test, shaped as issue 23's colleague's deployment).
SEEDED_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: team-bot, namespace: bots}
spec:
  template:
    spec:
      initContainers:
        - name: config-seed
          image: "busybox:1.36"
          command: [sh, -c, "cp /seed/openclaw.json /work/"]
          volumeMounts: [{name: config, mountPath: /seed}, {name: work, mountPath: /work}]
      containers:
        - name: gateway
          image: "ghcr.io/openclaw/openclaw:2026.8.1"
          volumeMounts: [{name: work, mountPath: /work}, {name: data, mountPath: /home/node/.openclaw}]
      volumes:
        - {name: config, configMap: {name: team-bot-seed}}
        - {name: work, emptyDir: {}}
        - {name: data, persistentVolumeClaim: {claimName: team-bot-state}}
    metadata: {labels: {app: bot}}
  selector: {matchLabels: {app: bot}}
"""


def test_init_containers_keep_their_volumes_renamed_when_moltgen_has_one_of_that_name(tmp_path):
    from moltgen.project.adopt import adopt

    (tmp_path / "deployment.yaml").write_text(SEEDED_DEPLOYMENT)
    adoption = adopt(tmp_path / "deployment.yaml")
    pod = adoption.spec["pod"]
    assert pod["volumes"] == [{"name": "adopted-config", "configMap": {"name": "team-bot-seed"}},
                              {"name": "work", "emptyDir": {}}]
    [seed] = pod["initContainers"]
    assert seed["volumeMounts"] == [{"name": "adopted-config", "mountPath": "/seed"},
                                    {"name": "work", "mountPath": "/work"}]
    assert pod["volumeMounts"] == [{"name": "work", "mountPath": "/work"}]
    assert adoption.spec["persistence"] == {"enabled": True}
    assert (adoption.spec["name"], adoption.spec["namespace"]) == ("team-bot", "bots")


def test_an_adopted_init_container_with_its_volumes_renders_and_builds(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "deployment.yaml").write_text(SEEDED_DEPLOYMENT)
    result = run_moltgen("init", "project", "--from", str(tmp_path / "in"), cwd=tmp_path)
    assert result.code == 0, result.stderr
    spec = (tmp_path / "project" / "moltgen.yaml").read_text()
    assert "name: team-bot\n" in spec and "namespace: bots\n" in spec
    objects = built(tmp_path / "project", "prod")
    pod = objects[("Deployment", "team-bot")]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["config-seed"]
    assert {"adopted-config", "work", "config", "state"} <= {v["name"] for v in pod["volumes"]}
