"""Peer scanners' own rule fixtures (tests/corpus/<peer>/, sources in tests/corpus/README.md)
for the bugs they found in moltgen (issue 24): each case is the peer's file, checked as
`moltgen check FILE` with the bundled Kubernetes 1.33 schemas, and the findings of one rule,
located (line, field) and with what their message must say.

What this cannot emulate: the API server itself. Its pod-spec validation (duplicate container
names, ephemeral containers on create, seccomp Localhost) is asserted from its documented
messages, not by creating the objects on a cluster.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from moltgen.check.catalog import load_catalog
from moltgen.check.engine import Engine
from moltgen.check.targets import load_targets
from moltgen.core.fieldpath import format_path
from moltgen.kube.schemas import SchemaSet

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def engine():
    return Engine(load_catalog(), schemas=SchemaSet("1.33"), now=NOW)


def _findings(engine, name: str, rule: str, env: str | None = None) -> list[tuple[int, str, str]]:
    cwd = os.getcwd()
    os.chdir(CORPUS)
    try:
        found = []
        for target in load_targets([name], [env] if env else []):
            found += engine.check(target.stream()).findings
    finally:
        os.chdir(cwd)
    return sorted((f.location.line if f.location else 0, format_path(f.path), f.message)
                  for f in found if f.rule == rule)


# (file, env, rule, [(line, field, words the message must hold)]); [] = the rule passes.
CASES = [
    # kubescape image-not-pinned-to-digest: sha512 is a registered algorithm; short digests
    # are malformed. checkov passes `@sha256:123456`; moltgen says it is malformed.
    ("kubescape/image-not-pinned-to-digest_pod-nonsha256_pod.yaml", "prod", "image-digest", []),
    ("kubescape/image-not-pinned-to-digest_pod-sha512-short_pod.yaml", "prod", "image-digest",
     [(8, "spec.containers[0].image", "malformed digest")]),
    ("kubescape/image-not-pinned-to-digest_pod-sha256-short_pod.yaml", "prod", "image-digest",
     [(8, "spec.containers[0].image", "malformed digest")]),
    ("checkov/example_ImageDigest_kafka-PASSED.yaml", "prod", "image-digest",
     [(66, "spec.template.spec.containers[0].image", "malformed digest")]),
    ("checkov/example_ImageDigest_imageWithTagAndDigest-PASSED.yaml", "prod", "image-digest",
     [(66, "spec.template.spec.containers[0].image", "malformed digest")]),
    # kubescape mismatching-selector: Job, CronJob and ReplicationController.
    ("kubescape/mismatching-selector_batch_job.yaml", None, "selector-matches-template",
     [(6, "spec.selector", "tier=backend")]),
    ("kubescape/mismatching-selector_batch_cronjob.yaml", None, "selector-matches-template",
     [(9, "spec.jobTemplate.spec.selector", "tier=backend")]),
    ("kubescape/mismatching-selector_replicationcontroller_replicationcontroller.yaml", None,
     "selector-matches-template", [(6, "spec.selector", "tier=backend")]),
    # kubescape rule-credentials-in-env-var and Polaris sensitiveContainerEnvVar.
    ("kubescape/rule-credentials-in-env-var_env-value-lowercase-bearer_pod.yaml", None,
     "secret-in-env-literal", [(8, "spec.containers[0].env", "AUTH_HEADER")]),
    ("kubescape/rule-credentials-in-env-var_pod-sensitive-key-regression_pod.yaml", None,
     "secret-in-env-literal", [(13, "spec.containers[0].env", "DB_PASSWORD")]),
    ("kubescape/rule-credentials-in-env-var_env-value-benign_pod.yaml", None, "secret-in-env-literal", []),
    ("polaris/sensitiveContainerEnvVar_failure.value_private_key.yaml", None, "secret-in-env-literal",
     [(9, "spec.containers[0].env", "the_good_stuff")]),
    ("polaris/sensitiveContainerEnvVar_success.valid_env_vars.yaml", None, "secret-in-env-literal", []),
    ("polaris/sensitiveContainerEnvVar_success.sensitive_key_uses_valueFrom.yaml", None,
     "secret-in-env-literal", []),
    # Polaris cpuLimitsMissing / memoryLimitsMissing: one finding per missing limit.
    ("polaris/memoryLimitsMissing_failure.yaml", None, "resources-limits",
     [(12, "spec.containers[0].resources.limits.cpu", "no CPU limit"),
      (12, "spec.containers[0].resources.limits.memory", "no memory limit")]),
    ("polaris/memoryLimitsMissing_failure.cpu.yaml", None, "resources-limits",
     [(12, "spec.containers[0].resources.limits.memory", "no memory limit")]),
    ("polaris/cpuLimitsMissing_failure.yaml", None, "resources-limits",
     [(12, "spec.containers[0].resources.limits.cpu", "no CPU limit")]),
    # What the API server rejects: datree's policy test 61 (its pass case too), kubescape's
    # ephemeral container fixture.
    ("datree/pkg_policy_tests_61_pass_61-pass.yaml", None, "schema",
     [(7, "spec.securityContext.seccompProfile.localhostProfile", "must be set when the type is Localhost"),
      (15, "spec.initContainers[0].name", "'nginx' is used twice")]),
    ("datree/pkg_policy_tests_61_fail_61-fail.yaml", None, "schema",
     [(7, "spec.securityContext.seccompProfile.localhostProfile", "must be set when the type is Localhost"),
      (15, "spec.initContainers[0].name", "'nginx' is used twice"),
      (19, "spec.initContainers[0].securityContext.seccompProfile.type", "'unconfined' is not one of")]),
    ("kubescape/rule-privileged-container_pod-ephemeralcontainer_pod.yaml", None, "schema",
     [(13, "spec.ephemeralContainers", "cannot be set on create")]),
    # kubescape service-in-default-namespace: the API server's own Service.
    ("kubescape/service-in-default-namespace_kubernetes-default-allowed_service.yaml", None,
     "namespace-set", []),
    # kubescape ingress-no-tls passes a secretName nothing creates; moltgen reports it.
    ("kubescape/ingress-no-tls_success_with_ingress_ingress.yaml", None, "ingress-tls-certificate",
     [(9, "spec.tls", "example-tls-secret")]),
]


# Where moltgen's verdict differs from the peer's on purpose (issue 24): the peer's own case,
# moltgen's documented verdict, and the peer named in that rule's section of docs/rules.md.
# (file, rule, moltgen's findings as in CASES, the peer's verdict, the peer as docs/rules.md names it)
DIFFERENCES = [
    ("polaris/automountServiceAccountToken_failure.all_true.yaml", "service-account-token", [],
     "failure", "Polaris"),
    ("kube-score/pod-test-resources-only-limits.yaml", "resources-requests", [], "warning", "kube-score"),
    ("kubescape/set-seccomp-profile-RuntimeDefault_pod_pod.yaml", "seccomp-profile", [],
     "fails containers[1] (Localhost)", "kubescape"),
    ("kubescape/drop-capability-netraw_pod_pod.yaml", "capabilities-drop-all",
     [(12, "spec.containers[0].securityContext.capabilities", "does not drop all capabilities"),
      (18, "spec.containers[1].securityContext.capabilities", "does not drop all capabilities"),
      (24, "spec.containers[2].securityContext.capabilities", "NET_RAW")],
     "fails containers[1] and [2] only", "kubescape"),
    ("kube-score/pod-seccomp-annotated.yaml", "seccomp-profile",
     [(9, "spec.containers[0].securityContext.seccompProfile", "without a seccomp profile")],
     "all OK (the alpha annotation)", "kube-score"),
    ("kubescape/service-in-default-namespace_service_service.yaml", "namespace-set", [],
     "fails (the default namespace)", "kubescape"),
]
CASES += [(name, None, rule, expected) for name, rule, expected, _, _ in DIFFERENCES]


# Differences asserted in CASES above: checkov's malformed digests, kubescape's TLS secretName.
DOCUMENTED = {(d[1], d[4]) for d in DIFFERENCES} | {("image-digest", "checkov"),
                                                   ("ingress-tls-certificate", "kubescape")}


@pytest.mark.parametrize(("rule", "peer"), sorted(DOCUMENTED))
def test_each_difference_is_written_in_the_rule_docs(rule, peer):
    docs = (CORPUS.parent.parent / "docs" / "rules.md").read_text(encoding="utf-8")
    section = docs.split(f"\n## {rule}\n", 1)[1].split("\n## ", 1)[0]
    assert "Where peers differ" in section and peer in section


def test_seccomp_localhost_without_a_profile_is_the_schema_step_s(engine):
    # The seccomp rule accepts Localhost; the profile it names must exist in the object.
    found = _findings(engine, "kubescape/set-seccomp-profile-RuntimeDefault_pod_pod.yaml", "schema")
    assert [(line, field) for line, field, _ in found] == [
        (16, "spec.containers[1].securityContext.seccompProfile.localhostProfile"),
        (24, "spec.securityContext.seccompProfile.localhostProfile")]


@pytest.mark.parametrize(("name", "env", "rule", "expected"), CASES, ids=[c[0] for c in CASES])
def test_peer_fixture(engine, name, env, rule, expected):
    found = _findings(engine, name, rule, env)
    assert [(line, field) for line, field, _ in found] == [(line, field) for line, field, _ in expected]
    for (_, _, message), (_, _, words) in zip(found, expected, strict=True):
        assert words in message, message


def test_a_digest_is_never_called_unpinned_when_it_is_malformed(engine):
    # The message says what is wrong with what was written, not what is missing.
    messages = [m for _, _, m in _findings(engine, "checkov/example_ImageDigest_kafka-PASSED.yaml",
                                           "image-digest", "prod")]
    assert messages and not any("not pinned" in m for m in messages)
