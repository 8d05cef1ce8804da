"""Shared CEL snippets, the cel.bind workaround, the openclaw.json view, and catalog-wide rules."""

from __future__ import annotations

import pytest

from moltgen.check import celenv, macros
from moltgen.check.catalog import load_catalog
from moltgen.check.openclaw import loads_json5, openclaw_config
from moltgen.check.vap import export_vap

from .conftest import NOW, check_text


def run(expression: str, obj: dict | None = None):
    return celenv.compile_expression(expression).run(celenv.activation(obj or {}, now=NOW))


def test_bind_after_a_comprehension_that_stopped_early_sees_its_own_value():
    # cel-expr-python 0.1.3 returns 2 here without macros.lower_bind
    assert run("[1, 2].exists(k, k == 1) ? cel.bind(n, ['c'], n) : []") == ["c"]


def test_lower_bind_keeps_strings_and_nests():
    assert macros.lower_bind("1 + cel.bind(x, 'cel.bind(', cel.bind(y, 1, [x, y]).size())") == \
        "1 + ['cel.bind('].map(x, [1].map(y, [x, y])[0].size())[0]"
    # a bind that is the whole expression encloses every comprehension: kept (cheaper)
    assert macros.lower_bind("cel.bind(p, 1, [2].exists(k, true) ? cel.bind(n, 3, n) : p)") == \
        "cel.bind(p, 1, [2].exists(k, true) ? [3].map(n, n)[0] : p)"


@pytest.mark.parametrize("obj,expected", [
    ({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "ghcr.io/openclaw/openclaw:1"}]}}}}, True),
    ({"kind": "Pod", "metadata": {"labels": {"app.kubernetes.io/name": "clawdbot"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}, True),
    ({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "registry:5000/moltbot:1"}]}}}}}}, True),
    ({"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "registry:5000/app:openclaw"}]}}, False),
    ({"kind": "Service", "metadata": {"labels": {"app.kubernetes.io/name": "openclaw"}}}, False),
])
def test_is_moltbot(obj, expected):
    assert run("isMoltbot(object)", obj) is expected


def test_macro_arity_is_checked():
    with pytest.raises(celenv.CelError, match="takes 2 argument"):
        celenv.compile_expression("selectsPods(object)")


def test_exported_policies_hold_plain_cel():
    documents, skipped = export_vap(load_catalog())
    text = repr(documents)
    assert not any(m.name + "(" in text for m in macros.MACROS)
    names = {d["metadata"]["name"] for d in documents}
    assert {"moltgen-moltbot-singleton", "moltgen-privileged"} <= names
    # bind-lan reads the mounted ConfigMap (gateway.bind), another object: not admission CEL
    assert {"moltbot-allowed-origins", "moltbot-device-auth-disabled", "pvc-exists",
            "moltbot-bind-lan"} <= {s.rule for s in skipped}


def test_json5_config():
    text = "// header\n{gateway: {'bind': 'lan', origins: ['https://a//b',], /* c */},}\n"
    assert loads_json5(text) == {"gateway": {"bind": "lan", "origins": ["https://a//b"]}}
    with pytest.raises(ValueError, match="line 1"):
        loads_json5("{a: }")


def test_openclaw_view_only_for_configmaps_with_a_config():
    assert openclaw_config({"kind": "Secret", "data": {"openclaw.json": "{}"}}) == {}
    assert openclaw_config({"kind": "ConfigMap", "data": {"other": "{}"}}) == {}
    view = openclaw_config({"kind": "ConfigMap", "data": {"clawdbot.json": "{gateway: {}}"}})
    assert view == {"key": "clawdbot.json", "config": {"gateway": {}}, "error": "",
                    "release": "2026.9.6", "problems": [], "literalSecrets": []}


def test_openclaw_view_names_paths_and_lines_never_values():
    text = ("// header\n{gateway: {auth: {mode: 'token', token: 'tok-literal-1234'},\n"
            "  prot: 1}, channels: {discord: {enabled: true, token: '${DISCORD_BOT_TOKEN}'}}}\n")
    view = openclaw_config({"kind": "ConfigMap", "data": {"openclaw.json": text}}, "2026.7.1-2-slim")
    assert view["release"] == "2026.7.1-2"
    assert view["problems"] == ["gateway.prot (line 3): unknown field 'prot' (did you mean 'port'?)"]
    assert view["literalSecrets"] == ["gateway.auth.token (line 2)"]
    assert "tok-literal-1234" not in repr({k: v for k, v in view.items() if k != "config"})


def test_json5_beyond_the_old_subset():
    assert loads_json5("{a: 0x10, b: +1, c: .5, d: 'it\\'s', e: Infinity}") == \
        {"a": 16, "b": 1, "c": 0.5, "d": "it's", "e": float("inf")}
    with pytest.raises(ValueError, match="line 3"):
        loads_json5("{\n a: 1,\n b: }")


def test_secret_in_env_literal_never_shows_the_value():
    text = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: c
      image: "busybox:1.36"
      env: [{name: OPENCLAW_GATEWAY_TOKEN, value: "tok-very-secret"}, {name: HOME, value: /home/node}]
"""
    findings = check_text(text, only=["secret-in-env-literal", "duplicate-env"]).findings
    assert [f.rule for f in findings] == ["secret-in-env-literal"]
    assert "OPENCLAW_GATEWAY_TOKEN" in findings[0].message and "tok-very-secret" not in findings[0].message
    assert findings[0].location.line == 9


def test_moltbot_allowed_origins_points_at_the_config_key():
    text = """
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: ns}
data:
  openclaw.json: |
    // generated
    {"gateway": {"controlUi": {"allowedOrigins": []}, "trustedProxies": ["10.0.0.0/8"]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: gw, namespace: ns}
spec:
  template:
    metadata: {labels: {app: gw}}
    spec:
      containers: [{name: gateway, image: "ghcr.io/openclaw/openclaw:1"}]
      volumes: [{name: config, configMap: {name: cfg}}]
---
apiVersion: v1
kind: Service
metadata: {name: gw, namespace: ns}
spec: {selector: {app: gw}, ports: [{port: 18789}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: gw, namespace: ns}
spec:
  rules: [{host: claw.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: gw, port: {number: 18789}}}}]}}]
"""
    findings = check_text(text, only=["moltbot-allowed-origins", "moltbot-trusted-proxies"]).findings
    assert [f.rule for f in findings] == ["moltbot-allowed-origins"]
    assert "https://claw.example.com" in findings[0].message
    assert findings[0].path == ("data", "openclaw.json") and findings[0].location.line == 6


def test_pod_level_security_context_gives_no_container_finding():
    text = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: gw, namespace: ns}
spec:
  template:
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
      initContainers:
        - {name: init, image: "busybox:1.36", securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}}
      containers:
        - {name: c, image: "busybox:1.36", securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}}
"""
    rules = ["run-as-non-root", "seccomp-profile", "privilege-escalation", "privileged",
             "read-only-root-fs", "capabilities-drop-all"]
    assert check_text(text, only=rules).findings == []


def test_a_config_nested_deeper_than_python_recurses_is_an_error_not_a_crash():
    # Found by tests/test_fuzz.py: json.loads raised RecursionError out of the whole check.
    with pytest.raises(ValueError, match="nest"):  # pyjson5: "Maximum nesting level exceeded"
        loads_json5("[" * 100_000 + "]" * 100_000)
    config = openclaw_config({"kind": "ConfigMap", "data": {"openclaw.json": "[" * 100_000}})
    assert config["config"] == {} and "nesting" in config["error"]


@pytest.mark.parametrize("expression, expected", [
    ("isCIDR('10.233.64.0/18')", True),
    ("isCIDR('10.233.70.12')", False),  # a bare address is not a CIDR, as in Kubernetes
    ("isCIDR('10.0.0.1/8')", True),  # host bits set: Go's netip.ParsePrefix takes it
    ("isCIDR('10.0.0.0/33')", False),
    ("isCIDR('fd00:10::/48')", True),
    ("cidr('10.233.64.0/18').prefixLength()", 18),
    ("cidr('fd00:10::/64').prefixLength()", 64),
])
def test_cidr_helpers_answer_as_kubernetes_cel(expression, expected):
    assert run(expression) == expected


def test_a_bad_cidr_is_an_error_value_not_false():
    assert isinstance(run("cidr('10.0.0.0/99').prefixLength()"), celenv.EvalError)


def test_trusted_proxies_narrow_names_only_the_broad_entries_at_the_config_key():
    proxies = '["10.233.70.12", "10.233.64.0/18", "10.233.71.0/24", "fd00::/32"]'
    text = ("{apiVersion: v1, kind: ConfigMap, metadata: {name: cfg, namespace: ns}, "
            f"data: {{openclaw.json: '{{gateway: {{trustedProxies: {proxies}}}}}'}}}}\n")
    findings = check_text(text, only=["moltbot-trusted-proxies-narrow"]).findings
    assert [f.rule for f in findings] == ["moltbot-trusted-proxies-narrow"]
    message = findings[0].message
    assert "10.233.64.0/18, fd00::/32," in message
    assert "10.233.70.12" not in message and "10.233.71.0/24" not in message
    assert findings[0].path == ("data", "openclaw.json") and findings[0].severity.value == "warning"
