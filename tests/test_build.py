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


def expected_objects(spec, env):
    return list(render_objects(spec, environment=env).values())


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


@pytest.mark.parametrize("spec_text", [None, VARIED_SPEC], ids=["repository", "varied"])
def test_each_built_overlay_equals_its_environment_rendered_directly(spec_text, tmp_path):
    if spec_text is None:
        root = REPO
    else:
        (tmp_path / "moltgen.yaml").write_text(spec_text)
        root = tmp_path
        assert run_moltgen("render", cwd=root).code == 0
    project = load_project(root / "moltgen.yaml")
    assert project.environments
    for env, spec in project.environments.items():
        built = built_objects(root / project.overlay_dir(env))
        assert comparable(built) == comparable(expected_objects(spec, env)), env
        config_maps = [o for o in built if o["kind"] == "ConfigMap"]
        assert len(config_maps) == 1
        assert config_maps[0]["data"]["openclaw.json"].split("\n", 1)[1] == openclaw_json(spec)


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
