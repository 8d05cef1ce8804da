"""Integration: build every overlay with the real kustomize engine.

The strongest check on the derived overlays: what kustomize builds from base + patches must be
exactly the objects rendered directly from that environment's effective spec.
"""

import re

import pytest

from conftest import REPO, run_moltgen
from moltgen import kustomize
from moltgen.render.objects import render_objects
from moltgen.render.openclaw import openclaw_json
from moltgen.spec import load_project
from moltgen.yamlio import load_documents

VARIED_SPEC = """\
name: bot
namespace: shared
image: {tag: "2026.7.1"}
providers: {openai: {enabled: true}}
ingress: {enabled: true, host: bot.example.com, className: nginx}
environments:
  dev:
    namespace: bot-dev
    image: {tag: "main"}
    gateway: {port: 18800, trustedProxies: [10.0.0.0/8]}
    channels: {telegram: {enabled: true}}
    ingress: {enabled: false}
    persistence: {enabled: false}
    probes: {startup: {enabled: false}}
  staging:
    namespace: bot-staging
    image: {repository: registry.example.com/mirror/openclaw, tag: "2026.7.1", digest: "sha256:%s"}
    networkPolicy: {allowFromNamespaces: [ingress-nginx]}
    config: {agents: {defaults: {model: anthropic/claude}}}
  prod:
    namespace: bot
    resources: {limits: {memory: 4Gi}}
    ingress: {host: bot.prod.example.com, annotations: {example.com/team: assistants}}
    persistence: {size: 50Gi, storageClass: fast}
""" % ("b" * 64)


def built_objects(directory):
    return [d.data for d in load_documents(kustomize.build(directory), "build")]


def expected_objects(target):
    return list(render_objects(target.spec, overlay_labels=target.overlay_labels).values())


def comparable(objects):
    """Objects keyed by kind/name, the generated ConfigMap's hash suffix removed."""
    def strip_hash(text):
        return re.sub(r"-config-[a-z0-9]{10}$", "-config", text)
    result = {}
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            continue
        obj = _walk(obj, strip_hash)
        result[(obj["kind"], obj["metadata"]["name"])] = obj
    return result


def _walk(value, fix):
    if isinstance(value, dict):
        return {k: _walk(v, fix) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, fix) for v in value]
    return fix(value) if isinstance(value, str) else value


FLEET_SPEC = """\
name: bot
namespace: bots
ingress: {enabled: true, host: bots.example.com, className: nginx}
environments:
  dev: {namespace: bots-dev, ingress: {host: dev.bots.example.com}}
  prod: {}
instances:
  - name: alice
    owner: alice
  - name: bob
    overrides:
      resources: {limits: {memory: 4Gi}}
  - name: team-x
    overrides:
      channels: {slack: {enabled: true}}
"""


@pytest.mark.parametrize("spec_text", [None, VARIED_SPEC, FLEET_SPEC], ids=["repository", "varied", "fleet"])
def test_each_built_overlay_equals_its_environment_rendered_directly(spec_text, tmp_path):
    if spec_text is None:
        root = REPO
    else:
        (tmp_path / "moltgen.yaml").write_text(spec_text)
        root = tmp_path
        assert run_moltgen("render", cwd=root).code == 0
    project = load_project(root / "moltgen.yaml")
    assert project.targets
    for target in project.targets:
        built = built_objects(root / target.directory)
        assert comparable(built) == comparable(expected_objects(target)), target.label
        config_maps = [o for o in built if o["kind"] == "ConfigMap"]
        assert len(config_maps) == 1
        assert config_maps[0]["data"]["openclaw.json"].split("\n", 1)[1] == openclaw_json(target.spec)


def test_base_builds_too():
    objects = built_objects(REPO / "base")
    assert {o["kind"] for o in objects} == {"ServiceAccount", "ConfigMap", "Deployment", "Service",
                                           "PersistentVolumeClaim", "Ingress", "NetworkPolicy"}


def test_prod_build_shows_the_seed_deployment():
    result = run_moltgen("build", "prod")
    assert result.code == 0, result.stderr
    objects = {(d.data["kind"], d.data["metadata"]["name"]): d.data
               for d in load_documents(result.stdout, "build")}
    assert {o["metadata"]["namespace"] for o in objects.values()} == {"extension-clawdbot"}
    service = objects[("Service", "clawdbot")]
    assert service["spec"]["ports"][0]["port"] == 18789
    ingress = objects[("Ingress", "clawdbot")]
    assert ingress["spec"]["ingressClassName"] == "kubesphere-router-cluster"
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "default-issuer"
    assert ingress["spec"]["tls"] == [{"hosts": ["172.31.19.4.nip.io"], "secretName": "clawdbot-cert"}]
    assert ingress["spec"]["rules"][0]["host"] == "172.31.19.4.nip.io"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "clawdbot", "port": {"number": 18789}}
    deployment = objects[("Deployment", "clawdbot")]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    secret_refs = {e["valueFrom"]["secretKeyRef"]["key"]: e["valueFrom"]["secretKeyRef"]["name"]
                   for e in container["env"] if "valueFrom" in e}
    assert secret_refs == {key: "clawdbot" for key in (
        "anthropicApiKey", "openaiApiKey", "discordBotToken", "telegramBotToken", "gatewayToken")}
    # What MOLTBOT.md says the application needs.
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert container["args"] == ["--bind", "lan", "--port", "18789"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["NODE_OPTIONS"] == "--max-old-space-size=1536"  # 75% of 2Gi
    assert pod["securityContext"]["runAsUser"] == 1000 and pod["securityContext"]["fsGroup"] == 1000
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    config = next(o for o in objects.values() if o["kind"] == "ConfigMap")["data"]["openclaw.json"]
    assert '"https://172.31.19.4.nip.io"' in config and '"bind": "lan"' in config


def test_dev_is_a_smaller_variant_in_its_own_namespace():
    project = load_project(REPO / "moltgen.yaml")
    dev, prod = project.environments["dev"], project.environments["prod"]
    assert dev.namespace != prod.namespace
    from moltgen.quantity import parse_quantity
    assert parse_quantity(dev.resources.limits.memory) < parse_quantity(prod.resources.limits.memory)


def test_missing_engine_names_the_package_to_install(project_dir, tmp_path):
    root = project_dir()
    assert run_moltgen("render", cwd=root).code == 0
    result = run_moltgen("build", "prod", cwd=root,
                         env={"MOLTGEN_KUSTOMIZE": str(tmp_path / "no-such-kustomize")})
    assert result.code == 2
    assert "cannot run" in result.stderr and "no-such-kustomize" in result.stderr


def test_fleet_instances_are_isolated_and_the_environment_builds_them_all(tmp_path):
    (tmp_path / "moltgen.yaml").write_text(FLEET_SPEC)
    assert run_moltgen("render", cwd=tmp_path).code == 0
    objects = built_objects(tmp_path / "overlays" / "prod")
    namespaces = {o["metadata"]["namespace"] for o in objects}
    assert namespaces == {"bots-alice", "bots-bob", "bots-team-x"}
    hosts = {o["spec"]["rules"][0]["host"] for o in objects if o["kind"] == "Ingress"}
    assert hosts == {"alice.bots.example.com", "bob.bots.example.com", "team-x.bots.example.com"}
    alice = [o for o in objects if o["metadata"]["namespace"] == "bots-alice"]
    assert all(o["metadata"]["labels"]["moltgen.dev/owner"] == "alice" for o in alice)
    assert all(o["metadata"]["labels"]["moltgen.dev/instance"] == "alice" for o in alice)


def test_adding_an_instance_touches_only_its_files_and_the_lists(tmp_path):
    from conftest import snapshot
    (tmp_path / "moltgen.yaml").write_text(FLEET_SPEC)
    assert run_moltgen("render", cwd=tmp_path).code == 0
    before = snapshot(tmp_path)
    (tmp_path / "moltgen.yaml").write_text(FLEET_SPEC + "  - name: dave\n")
    assert run_moltgen("render", cwd=tmp_path).code == 0
    after = snapshot(tmp_path)
    changed = {p for p in before if p in after and before[p] != after[p]}
    added = set(after) - set(before)
    assert set(before) - set(after) == set()
    assert changed == {"moltgen.yaml", "overlays/dev/kustomization.yaml", "overlays/prod/kustomization.yaml"}
    assert added and all(p.startswith(("overlays/dev/dave/", "overlays/prod/dave/")) for p in added)
