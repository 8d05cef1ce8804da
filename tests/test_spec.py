import json

import jsonschema
import jsonschema_rs
from support import REPO

from moltgen.core.yamlio.parse import load_documents
from moltgen.project import load_project
from moltgen.spec.model import Spec
from moltgen.spec.schema import json_schema


def test_environment_overrides_merge_over_the_base(project_dir):
    root = project_dir("""\
name: assistant
namespace: team-a
resources:
  limits: {cpu: "2", memory: 4Gi}
environments:
  dev:
    namespace: team-a-dev
    resources:
      limits: {memory: 1Gi}
  prod:
""")
    project = load_project(root / "moltgen.yaml")
    assert project.base.resources.limits.memory == "4Gi"
    dev = project.environments["dev"]
    assert (dev.namespace, dev.resources.limits.cpu, dev.resources.limits.memory) == (
        "team-a-dev", "2", "1Gi")
    assert project.environments["prod"] == project.base
    assert list(project.environments) == ["dev", "prod"]


def test_secret_keys_follow_providers_channels_and_auth():
    spec = Spec.model_validate({
        "name": "a", "namespace": "b",
        "providers": {"anthropic": {"enabled": True}, "openai": {"enabled": True}},
        "channels": {"discord": {"enabled": True}, "slack": {"enabled": True}},
    })
    assert [k.name for k in spec.secret_keys()] == [
        "anthropicApiKey", "openaiApiKey", "discordBotToken", "slackBotToken", "slackAppToken",
        "gatewayToken"]
    assert [k.name for k in spec.secret_keys() if k.generated] == ["gatewayToken"]
    password = Spec.model_validate({"name": "a", "namespace": "b", "gateway": {"auth": {"mode": "password"}}})
    assert password.secret_keys()[-1].name == "gatewayPassword"


def test_allowed_origins_include_the_public_ingress_origin():
    spec = Spec.model_validate({
        "name": "a", "namespace": "b",
        "gateway": {"controlUi": {"allowedOrigins": ["https://other.example"]}},
        "ingress": {"enabled": True, "host": "bot.example.com"},
    })
    assert spec.allowed_origins == ["https://other.example", "https://bot.example.com"]


def test_public_ports_become_origins_with_their_port():
    """OpenClaw compares the origin exactly, port included: a page opened on the router's
    NodePort sends `https://host:32045`, which `https://host` does not admit."""
    spec = Spec.model_validate({
        "name": "a", "namespace": "b",
        "ingress": {"enabled": True, "host": "bot.example.com", "publicPorts": [32045, 443, 32045]},
    })
    assert spec.allowed_origins == ["https://bot.example.com", "https://bot.example.com:32045"]
    plain = Spec.model_validate({
        "name": "a", "namespace": "b",
        "ingress": {"enabled": True, "host": "bot.example.com", "tls": {"enabled": False},
                    "publicPorts": [8080]},
    })
    assert plain.allowed_origins == ["http://bot.example.com", "http://bot.example.com:8080"]


def test_this_repository_admits_the_seeds_url():
    """The seed's users open https://172.31.19.4.nip.io:32045 (the KubeSphere router)."""
    project = load_project(REPO / "moltgen.yaml")
    prod = next(t.spec for t in project.targets if t.environment == "prod")
    assert "https://172.31.19.4.nip.io:32045" in prod.allowed_origins


def test_numbers_are_accepted_as_quantities():
    spec = Spec.model_validate({"name": "a", "namespace": "b",
                                "resources": {"limits": {"cpu": 2, "memory": "1Gi"}}})
    assert spec.resources.limits.cpu == "2"


def test_json_schema_validates_this_repository_spec_and_rejects_typos():
    schema = json_schema()
    # OpenClaw's patterns under `config` are ECMA-262 regexes (\\p{Cs}), which Python's `re`
    # cannot check; the metaschema is checked without formats, the regexes by jsonschema-rs.
    jsonschema.Draft202012Validator(jsonschema.Draft202012Validator.META_SCHEMA).validate(schema)
    jsonschema_rs.Draft202012Validator(schema)
    validator = jsonschema.Draft202012Validator(schema)
    data = load_documents(open(REPO / "moltgen.yaml").read(), "moltgen.yaml")[0].data
    assert list(validator.iter_errors(data)) == []
    data["environments"]["prod"] = {"resources": {"limits": {"memroy": "1Gi"}}}
    assert list(validator.iter_errors(data))


def test_json_schema_documents_and_checks_openclaw_options_under_config():
    validator = jsonschema_rs.Draft202012Validator(json_schema())
    spec = {"name": "a", "namespace": "b", "config": {"gateway": {"port": 1}},
            "environments": {"dev": {"config": {"channels": {"telegram": {"enabled": True}}}}}}
    assert validator.is_valid(spec)
    spec["environments"]["dev"]["config"]["gateway"] = {"prot": 1}
    assert any("prot" in error.message for error in validator.iter_errors(spec))
    gateway = json_schema()["$defs"]["OpenClawConfig"]["properties"]["gateway"]
    assert gateway["properties"]["bind"]["description"]


def test_committed_schema_file_is_current():
    committed = json.load(open(REPO / "moltgen.schema.json"))
    assert committed == json.loads(json.dumps(json_schema(), sort_keys=True))


def test_spec_file_carries_the_editor_modeline():
    assert open(REPO / "moltgen.yaml").readline().strip() == "# yaml-language-server: $schema=./moltgen.schema.json"


def test_overriding_one_field_keeps_the_sections_other_defaults(project_dir):
    root = project_dir("""\
name: assistant
namespace: team-a
resources:
  limits: {memory: 4Gi}
environments:
  prod:
    probes:
      readiness: {periodSeconds: 20}
""")
    project = load_project(root / "moltgen.yaml")
    assert project.base.resources.limits.cpu == "1"  # the default survives
    assert project.base.resources.limits.memory == "4Gi"
    readiness = project.environments["prod"].probes.readiness
    assert (readiness.path, readiness.period_seconds) == ("/readyz", 20)


def test_label_safe_keeps_a_label_value_and_makes_any_other_owner_one_that_never_collides():
    from moltgen.spec.types import LABEL_VALUE, label_safe

    assert label_safe("alice") == "alice"
    assert label_safe("team_a.ops-1") == "team_a.ops-1"
    owners = ["alice@example.com", "alice-example.com", "Alice@example.com", "ALICE",
              "Platform Team (EMEA)", "@@@", "x" * 63, "x" * 64, "x" * 200, "é" * 10,
              "-leading", "trailing.", "a" * 60 + "@b"]
    labels = [label_safe(owner) for owner in owners]
    assert len(set(labels)) == len(owners), labels  # distinct owners, distinct labels
    for owner, label in zip(owners, labels, strict=True):
        assert len(label) <= 63 and LABEL_VALUE.fullmatch(label), (owner, label)
        assert label == label.lower()
    assert labels[0].startswith("alice-example.com-")
    assert labels[4].startswith("platform-team-emea-")
    assert label_safe("x" * 63) == "x" * 63  # fits: kept as it is
