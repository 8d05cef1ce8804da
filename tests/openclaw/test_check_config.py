"""`moltgen check` judges any ConfigMap's openclaw.json by the schema of the image's release."""

from __future__ import annotations

import json

from support import run_moltgen

MANIFESTS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: bot, namespace: bots}
spec:
  selector: {matchLabels: {app: bot}}
  template:
    metadata: {labels: {app: bot}}
    spec:
      volumes: [{name: config, configMap: {name: bot-config}}]
      containers:
        - name: gateway
          image: ghcr.io/openclaw/openclaw:TAG
          args: [gateway, --bind, lan]
          volumeMounts: [{name: config, mountPath: /etc/openclaw}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: bot-config, namespace: bots}
data:
  openclaw.json: |
    // JSON5, as OpenClaw reads it
    {
      gateway: {
        mode: 'local',
        prot: 18789,
        auth: {mode: 'token', token: 'literal-token-value-123'},
      },
    }
"""


def check(tmp_path, tag):
    path = tmp_path / "bot.yaml"
    path.write_text(MANIFESTS.replace("TAG", tag))
    result = run_moltgen("check", str(path), "--format", "json", cwd=tmp_path)
    findings = json.loads(result.stdout)["findings"]
    return result, {f["rule"]: f for f in findings}


def test_a_typo_and_a_literal_token_are_found_with_their_json_path_and_line(tmp_path):
    result, findings = check(tmp_path, "2026.7.1-2-slim")
    assert result.code == 1
    valid = findings["moltbot-config-valid"]
    assert valid["message"] == (
        "openclaw.json does not match the schema of OpenClaw 2026.7.1-2: gateway.prot (line 5): "
        "unknown field 'prot' (did you mean 'port'?)")
    assert valid["file"].endswith("bot.yaml") and valid["line"] == 20  # the openclaw.json key
    secret = findings["moltbot-config-literal-secret"]
    assert "gateway.auth.token (line 6)" in secret["message"] and "${VAR}" in secret["message"]
    assert "literal-token-value-123" not in result.stdout + result.stderr


def test_the_release_follows_the_image_tag(tmp_path):
    _, findings = check(tmp_path, "2026.9.6")
    assert "schema of OpenClaw 2026.9.6" in findings["moltbot-config-valid"]["message"]
