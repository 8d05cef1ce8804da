"""A digest belongs to the tag it was written with (issue 21): a layer that moves the tag or the
repository without a digest of its own is refused, located, before anything is written."""

import pytest
from support import run_moltgen, snapshot

from moltgen.core.errors import MoltgenError
from moltgen.project.starter import starter_spec
from moltgen.spec.parse import parse_project

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64

BASE = f"""\
name: assistant
namespace: team-a
image:
  tag: 2026.7.1-2-slim
  digest: {OLD}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(MoltgenError) as error:
        parse_project(text=text)
    return [str(p) for p in error.value.problems]


def test_an_environment_tag_override_keeps_no_digest_render_refuses_located(project_dir):
    root = project_dir(BASE + "environments:\n  prod:\n    image:\n      tag: 2026.9.6-slim\n")
    before = snapshot(root)
    result = run_moltgen("render", cwd=root)
    assert result.code == 2
    assert result.stderr.splitlines() == [
        "moltgen: moltgen.yaml:9:12: environments.prod.image.tag: overrides the tag but keeps the "
        "digest set at line 5 for tag 2026.7.1-2-slim, and the digest decides what runs; set "
        "image.digest here too, or `digest: null` to drop it"]
    assert snapshot(root) == before  # nothing written


def test_an_instance_tag_override_is_refused_at_the_instance(project_dir):
    text = (BASE + "environments:\n  prod: {}\ninstances:\n  - name: alice\n"
            "  - name: bob\n    overrides:\n      image: {tag: 2026.9.6-slim}\n")
    assert problems(text) == [
        "moltgen.yaml:12:20: instances.1.overrides.image.tag: overrides the tag but keeps the "
        "digest set at line 5 for tag 2026.7.1-2-slim, and the digest decides what runs; set "
        "image.digest here too, or `digest: null` to drop it"]


def test_an_instance_override_of_an_environment_pin_is_refused(project_dir):
    # The digest comes from the environment this time: the line named is the environment's.
    text = ("name: assistant\nnamespace: team-a\nenvironments:\n  prod:\n    image:\n"
            f"      tag: 2026.9.6-slim\n      digest: {NEW}\ninstances:\n  - name: alice\n"
            "    overrides:\n      image: {tag: 2026.9.7-slim}\n")
    [problem] = problems(text)
    assert problem.startswith("moltgen.yaml:11:20: instances.0.overrides.image.tag: overrides "
                              "the tag but keeps the digest set at line 7 for tag 2026.9.6-slim")


def test_a_digest_without_the_tag_it_belongs_to_is_refused():
    text = BASE + f"environments:\n  prod:\n    image:\n      digest: {NEW}\n"
    assert problems(text) == [
        "moltgen.yaml:9:15: environments.prod.image.digest: sets a digest here but the tag comes "
        "from line 4 (2026.7.1-2-slim); set image.tag here too, so the tag says which release "
        "the digest is"]


def test_a_repository_override_without_a_digest_is_refused():
    text = BASE + "environments:\n  prod:\n    image: {repository: registry.local/mirror/openclaw}\n"
    [problem] = problems(text)
    assert problem.startswith("moltgen.yaml:8:25: environments.prod.image.repository: "
                              "overrides the repository but keeps the digest set at line 5")


def test_every_target_that_inherits_is_reported_each_once():
    text = (BASE + "environments:\n  dev: {image: {tag: 2026.9.6-slim}}\n  prod: {}\n"
            "instances:\n  - name: alice\n  - name: bob\n")
    # dev's two instances inherit the same mistake: one line, at dev's tag.
    [problem] = problems(text)
    assert problem.startswith("moltgen.yaml:7:22: environments.dev.image.tag:")


def test_digest_null_drops_the_digest_on_purpose():
    text = (BASE + "environments:\n  dev:\n    image:\n      tag: 2026.9.6-slim\n"
            "      digest: null\n")
    project = parse_project(text=text)
    [dev] = project.targets
    assert dev.spec.image.reference == "ghcr.io/openclaw/openclaw:2026.9.6-slim"
    assert project.base.image.digest == OLD


def test_an_empty_digest_is_refused_with_the_way_to_drop_it():
    text = BASE + "environments:\n  dev:\n    image: {tag: 2026.9.6-slim, digest: ''}\n"
    [problem] = problems(text)
    assert problem == ("moltgen.yaml:8:41: environments.dev.image.digest: is empty; write "
                       "`digest: null` to drop the digest")


def test_tag_and_digest_set_together_or_repeated_are_accepted():
    text = (BASE + "environments:\n"
            f"  prod:\n    image: {{tag: 2026.9.6-slim, digest: {NEW}}}\n"
            # Repeating the base's values moves nothing.
            "  stage:\n    image: {tag: 2026.7.1-2-slim, repository: ghcr.io/openclaw/openclaw}\n"
            "  dev:\n    resources: {limits: {memory: 1Gi}}\n"
            "instances:\n  - name: alice\n"
            f"    overrides:\n      image: {{repository: registry.local/openclaw, tag: x, digest: {NEW}}}\n")
    images = {t.directory: t.spec.image.reference for t in parse_project(text=text).targets}
    assert images == {
        "overlays/prod/alice": f"registry.local/openclaw:x@{NEW}",
        "overlays/stage/alice": f"registry.local/openclaw:x@{NEW}",
        "overlays/dev/alice": f"registry.local/openclaw:x@{NEW}"}
    without_instances = text.split("instances:")[0]
    images = {t.directory: t.spec.image.reference for t in parse_project(text=without_instances).targets}
    assert images == {"overlays/prod": f"ghcr.io/openclaw/openclaw:2026.9.6-slim@{NEW}",
                      "overlays/stage": f"ghcr.io/openclaw/openclaw:2026.7.1-2-slim@{OLD}",
                      "overlays/dev": f"ghcr.io/openclaw/openclaw:2026.7.1-2-slim@{OLD}"}


def test_a_tag_without_any_digest_is_not_a_pin_problem():
    text = ("name: assistant\nnamespace: team-a\nimage: {tag: 2026.7.1-2-slim}\n"
            "environments:\n  prod:\n    image: {tag: 2026.9.6-slim}\n")
    [prod] = parse_project(text=text).targets
    assert prod.spec.image.reference == "ghcr.io/openclaw/openclaw:2026.9.6-slim"


def test_the_starter_says_how_a_digest_is_overridden_beside_the_image():
    text = starter_spec("bot", "bots")
    image = text[text.index("\nimage:\n"):text.index("\ngateway:\n")]
    assert "`digest: null`" in image and "render refuses" in image
    parse_project(text=text)  # the comment is a comment: the starter stays valid
