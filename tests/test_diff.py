from support import run_moltgen

from moltgen.review.diff import MASKED, semantic_diff

SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
          "stringData": {"token": "ENC[AES256_GCM,data:abc]"}, "sops": {"mac": "x"}}


def test_objects_are_matched_by_kind_and_name_and_changes_have_paths():
    left = [{"kind": "Service", "metadata": {"name": "a", "namespace": "x"}, "spec": {"ports": [{"port": 1}]}},
            {"kind": "Ingress", "metadata": {"name": "gone"}}]
    right = [{"kind": "Service", "metadata": {"name": "a", "namespace": "y"}, "spec": {"ports": [{"port": 2}]}},
             {"kind": "NetworkPolicy", "metadata": {"name": "new"}}]
    assert semantic_diff(left, right, "dev", "prod") == [
        "- Ingress gone (only in dev)",
        "+ NetworkPolicy new (only in prod)",
        "~ Service a",
        "    metadata.namespace: 'x' -> 'y'",
        "    spec.ports[0].port: 1 -> 2",
    ]


def test_secret_values_and_sops_metadata_are_never_shown():
    other = {**SECRET, "stringData": {"token": "ENC[AES256_GCM,data:def]", "extra": "ENC[...]"}}
    lines = semantic_diff([SECRET], [other], "dev", "prod")
    text = "\n".join(lines)
    assert "ENC[" not in text and "mac" not in text
    assert f"stringData.extra: (absent) -> '{MASKED}'" in text
    assert semantic_diff([SECRET], [SECRET], "a", "b") == []


def test_diff_command_on_this_repository_masks_secrets():
    result = run_moltgen("diff", "dev", "prod")
    assert result.code == 1, result.stderr  # they differ
    assert "spec.rules[0].host: 'dev.172.31.19.4.nip.io' -> '172.31.19.4.nip.io'" in result.stdout
    assert "ENC[" not in result.stdout
    assert "~ Secret clawdbot" in result.stdout


def test_a_fleet_diff_compares_every_instance_with_the_same_instance(tmp_path):
    (tmp_path / "moltgen.yaml").write_text(
        "name: bot\nnamespace: bots\nenvironments:\n  dev: {namespace: bots-dev}\n  prod:\n"
        "    resources: {limits: {memory: 4Gi}}\ninstances:\n  - name: alice\n  - name: bob\n"
        "    overrides: {resources: {limits: {memory: 3Gi}}}\n")
    assert run_moltgen("render", cwd=tmp_path).code == 0
    result = run_moltgen("diff", "dev", "prod", cwd=tmp_path)
    assert result.code == 1, result.stderr  # they differ
    lines = result.stdout.splitlines()
    assert "~ Deployment bot (instance alice)" in lines and "~ Deployment bot (instance bob)" in lines
    alice = lines[lines.index("~ Deployment bot (instance alice)"):]
    alice = alice[1:next(i for i, line in enumerate(alice[1:], 1) if not line.startswith("    "))]
    assert "    metadata.namespace: 'bots-dev-alice' -> 'bots-alice'" in alice
    assert any("'2Gi' -> '4Gi'" in line for line in alice)
    # bob's override holds in both environments: his memory limit does not differ.
    bob = lines[lines.index("~ Deployment bot (instance bob)"):]
    bob = bob[1:next((i for i, line in enumerate(bob[1:], 1) if not line.startswith("    ")), len(bob))]
    assert not any("Gi'" in line for line in bob)


def test_a_changed_plain_secret_value_reads_changed_masked_and_is_never_shown():
    plain = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
             "stringData": {"token": "sk-ant-first", "same": "x"}}
    changed = {**plain, "stringData": {"token": "sk-ant-second", "same": "x"}}
    lines = semantic_diff([plain], [changed], "dev", "prod")
    assert lines == ["~ Secret s", "    stringData.token: changed (masked)"]
    assert semantic_diff([plain], [dict(plain)], "dev", "prod") == []
    removed = {**plain, "stringData": {"same": "x"}}
    assert semantic_diff([plain], [removed], "dev", "prod") == [
        "~ Secret s", f"    stringData.token: '{MASKED}' -> (absent)"]
