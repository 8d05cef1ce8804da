"""Your own resources beside moltgen's: `extraResources`, `patches` and `pod:` survive render,
are built by the real kustomize engine, and are checked like the rest."""

import json

import pytest
from support import run_moltgen, snapshot

from moltgen.core.yamlio.parse import load_documents
from moltgen.kustomize import engine as kustomize

SPEC = """\
name: bot
namespace: bots
pod:
  tolerations:
    - {key: dedicated, operator: Equal, value: assistants, effect: NoSchedule}
  sidecars:
    - name: exporter
      image: ghcr.io/example/exporter:1.2.3
      ports: [{name: metrics, containerPort: 9100}]
extraResources:
  - monitoring/servicemonitor.yaml
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: bot-dashboards}
    data: {dashboard.json: "{}"}
patches:
  - target: {kind: Deployment, name: bot}
    patch:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: bot, annotations: {kubesphere.io/description: assistant}}
environments:
  dev:
    namespace: bots-dev
    pod: {nodeSelector: {pool: spot}}
  prod:
    resources: {limits: {memory: 4Gi}}
    extraResources: [kube/]
    patches:
      - target: {kind: Service, name: bot}
        patch: [{op: add, path: /metadata/annotations, value: {team: assistants}}]
"""

# The shape of prometheus-operator's own example (Documentation/user-guides/getting-started.md).
SERVICE_MONITOR = """\
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: bot
  labels:
    team: frontend
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: openclaw
  endpoints:
  - port: metrics
"""

PDB = """\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: bot}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app.kubernetes.io/name: openclaw}}
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "moltgen.yaml").write_text(SPEC)
    (tmp_path / "monitoring").mkdir()
    (tmp_path / "monitoring" / "servicemonitor.yaml").write_text(SERVICE_MONITOR)
    (tmp_path / "kube").mkdir()
    (tmp_path / "kube" / "kustomization.yaml").write_text("resources: [pdb.yaml]\n")
    (tmp_path / "kube" / "pdb.yaml").write_text(PDB)
    return tmp_path


def build(root, env):
    objects = [d.data for d in load_documents(kustomize.build(root / "overlays" / env), "build")]
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_servicemonitor_sidecar_and_tolerations_survive_a_rerender(project):
    assert run_moltgen("render", cwd=project).code == 0
    user_files = {p: c for p, c in snapshot(project).items() if p.startswith(("monitoring/", "kube/"))}
    first = {env: build(project, env) for env in ("dev", "prod")}
    rerun = run_moltgen("render", cwd=project)
    assert rerun.code == 0 and "0 added, 0 changed, 0 removed" in rerun.stdout
    assert {env: build(project, env) for env in ("dev", "prod")} == first
    assert {p: c for p, c in snapshot(project).items() if p.startswith(("monitoring/", "kube/"))} == user_files
    assert run_moltgen("render", "--check", cwd=project).code == 0

    for env, namespace in (("dev", "bots-dev"), ("prod", "bots")):
        objects = first[env]
        monitor = objects[("ServiceMonitor", "bot")]
        assert monitor["metadata"]["namespace"] == namespace
        assert monitor["metadata"]["labels"]["moltgen.dev/environment"] == env
        assert objects[("ConfigMap", "bot-dashboards")]["data"] == {"dashboard.json": "{}"}
        pod = objects[("Deployment", "bot")]["spec"]["template"]["spec"]
        assert [c["name"] for c in pod["containers"]] == ["gateway", "exporter"]
        assert pod["tolerations"] == [{"key": "dedicated", "operator": "Equal",
                                       "value": "assistants", "effect": "NoSchedule"}]
        deployment = objects[("Deployment", "bot")]
        # The user's patch adds its annotation beside moltgen's own.
        assert deployment["metadata"]["annotations"] == {
            "kubesphere.io/description": "assistant",
            "moltgen.dev/pinned-image": pod["containers"][0]["image"]}
    assert first["dev"][("Deployment", "bot")]["spec"]["template"]["spec"]["nodeSelector"] == {"pool": "spot"}
    assert "nodeSelector" not in first["prod"][("Deployment", "bot")]["spec"]["template"]["spec"]
    # The environment's own changes compose with the user's: prod's memory limit and its
    # JSON 6902 patch, and its folder (included by reference, never copied).
    gateway = first["prod"][("Deployment", "bot")]["spec"]["template"]["spec"]["containers"][0]
    assert gateway["resources"]["limits"]["memory"] == "4Gi"
    assert first["prod"][("Service", "bot")]["metadata"]["annotations"] == {"team": "assistants"}
    assert first["prod"][("PodDisruptionBudget", "bot")]["metadata"]["namespace"] == "bots"
    assert ("PodDisruptionBudget", "bot") not in first["dev"]
    assert "../../kube" in (project / "overlays/prod/kustomization.yaml").read_text()


def test_findings_in_a_users_file_point_at_it(project):
    assert run_moltgen("render", cwd=project).code == 0
    result = run_moltgen("check", "--format", "json", cwd=project)
    findings = json.loads(result.stdout)["findings"]
    monitor = [f for f in findings if f["object"]["kind"] == "ServiceMonitor"]
    assert monitor and all(f["origin"]["file"] == "monitoring/servicemonitor.yaml" for f in monitor)
    sidecar = [f for f in findings if "exporter" in f["message"]]
    # The sidecar is written at lines 7 to 9 of the spec; its image at line 8.
    assert sidecar and all(f["origin"]["file"] == "moltgen.yaml" and 7 <= f["origin"]["line"] <= 9
                           for f in sidecar)


def test_an_environment_addition_reaches_every_instance_of_a_fleet(project):
    spec = SPEC + "instances:\n  - name: alice\n    overrides:\n      pod: {nodeSelector: {pool: alice}}\n"
    (project / "moltgen.yaml").write_text(spec)
    assert run_moltgen("render", cwd=project).code == 0
    objects = build(project, "prod/alice")
    assert objects[("PodDisruptionBudget", "bot")]["metadata"]["namespace"] == "bots-alice"
    assert objects[("ServiceMonitor", "bot")]["metadata"]["namespace"] == "bots-alice"
    assert objects[("Service", "bot")]["metadata"]["annotations"] == {"team": "assistants"}
    pod = objects[("Deployment", "bot")]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "alice"} and pod["tolerations"]


@pytest.mark.parametrize("toleration, message", [
    ("{key: a, operator: Exists, efect: NoSchedule}",
     "moltgen.yaml:5:34: pod.tolerations.0.efect: unknown field 'efect'"),
    ("{key: a, operator: Exists, tolerationSeconds: soon}",
     "moltgen.yaml:5:34: pod.tolerations.0.tolerationSeconds: expected integer, got string"),
])
def test_a_pod_setting_is_checked_against_the_kubernetes_schema_at_load(tmp_path, toleration, message):
    (tmp_path / "moltgen.yaml").write_text(
        f"name: bot\nnamespace: bots\npod:\n  tolerations:\n    - {toleration}\n")
    result = run_moltgen("render", cwd=tmp_path)
    assert result.code == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"moltgen: {message}"), result.stderr
    assert snapshot(tmp_path) == {"moltgen.yaml": (tmp_path / "moltgen.yaml").read_bytes()}


@pytest.mark.parametrize("item, message", [
    ("../outside.yaml", "extraResources.0: is outside the project"),
    ("base/extra.yaml", "extraResources.0: is inside base/, which render owns"),
    ("missing.yaml", "extraResources.0: no such file or folder"),
    ("empty-folder", "extraResources.0: a folder needs its own kustomization.yaml"),
    ("{apiVersion: v1, kind: Service, metadata: {name: bot}}", "Service 'bot' is one of moltgen's own objects"),
    ("{apiVersion: v1, kind: ConfigMap}", "extraResources.0: the object needs metadata.name"),
])
def test_a_wrong_extra_resource_is_one_located_line(tmp_path, item, message):
    (tmp_path / "empty-folder").mkdir()
    (tmp_path / "moltgen.yaml").write_text(f"name: bot\nnamespace: bots\nextraResources:\n  - {item}\n")
    result = run_moltgen("render", cwd=tmp_path)
    assert result.code == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("moltgen: moltgen.yaml:4:"), result.stderr
    assert message in result.stderr
    assert not (tmp_path / "base").exists()


@pytest.mark.parametrize("pod, message", [
    ("{sidecars: [{name: gateway, image: busybox}]}", "two containers are named 'gateway'"),
    ("{volumes: [{name: tmp, emptyDir: {}}]}", "volume 'tmp' is moltgen's own"),
    ("{env: [{name: HOME, value: /root}]}", "'HOME' is set by moltgen"),
    ("{labels: {app.kubernetes.io/name: other}}", "is a selector label"),
])
def test_pod_settings_that_clash_with_moltgens_are_refused(tmp_path, pod, message):
    (tmp_path / "moltgen.yaml").write_text(f"name: bot\nnamespace: bots\npod: {pod}\n")
    result = run_moltgen("render", cwd=tmp_path)
    assert result.code == 2 and message in result.stderr, result.stderr
    assert result.stderr.startswith("moltgen: moltgen.yaml:3:")


def test_a_patch_file_beside_the_spec_is_applied_and_a_multi_document_one_too(tmp_path):
    (tmp_path / "moltgen.yaml").write_text(
        "name: bot\nnamespace: bots\npatches:\n  - path: patches.yaml\n")
    (tmp_path / "patches.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: bot, annotations: {a: one}}\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bot}\n"
        "spec: {template: {spec: {priorityClassName: assistants}}}\n")
    assert run_moltgen("render", cwd=tmp_path).code == 0
    objects = [d.data for d in load_documents(kustomize.build(tmp_path / "base"), "build")]
    by_kind = {o["kind"]: o for o in objects}
    assert by_kind["Service"]["metadata"]["annotations"] == {"a": "one"}
    assert by_kind["Deployment"]["spec"]["template"]["spec"]["priorityClassName"] == "assistants"
