"""image-digest-pinned on built output: every overlay moltgen renders (an environment's or an
instance's own image included) runs the image its pinned-image annotation records, and a patch
or a hand edit that moves the tag or digest afterwards is found in the build."""

from pathlib import Path

from support import run_moltgen

from .conftest import by_rule, check_json

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
RULE = "image-digest-pinned"

SPEC = f"""\
name: bot
namespace: bots
image:
  tag: 2026.7.1-2-slim
  digest: {OLD}
environments:
  dev:
    namespace: bots-dev
    image:
      tag: 2026.9.6-slim
      digest: null
  prod:
    image:
      tag: 2026.9.6-slim
      digest: {NEW}
"""


def rendered(root: Path, text: str) -> Path:
    (root / "moltgen.yaml").write_text(text)
    result = run_moltgen("render", cwd=root)
    assert result.code == 0, result.stderr
    return root


def test_every_rendered_image_is_the_pinned_one(tmp_path):
    # prod's image comes from the overlay's images transformer, dev's from a patch (it drops
    # the digest, which the transformer cannot): both carry their annotation along.
    fleet = SPEC + "instances:\n  - name: alice\n  - name: bob\n    overrides:\n" \
                   f"      image: {{tag: 2026.9.7-slim, digest: {OLD}}}\n"
    for text in (SPEC, fleet):
        _, report = check_json(rendered(tmp_path, text))
        assert report["findings"] and by_rule(report, RULE) == []


def test_a_patch_that_moves_the_image_is_found(tmp_path):
    # The same patch in both environments: prod's images transformer runs after the patches
    # and sets its pinned image again, so only dev (whose image moltgen patches) runs the
    # patched one: its tag with another release's digest.
    def patched(env: str) -> str:
        return (f"  {env}:\n    patches:\n      - target: {{kind: Deployment, name: bot}}\n"
                "        patch:\n          apiVersion: apps/v1\n          kind: Deployment\n"
                "          metadata: {name: bot}\n          spec: {template: {spec: {containers: "
                f"[{{name: gateway, image: 'ghcr.io/openclaw/openclaw:2026.9.6-slim@{OLD}'}}]}}}}}}\n")
    text = SPEC.replace("  dev:\n", patched("dev")).replace("  prod:\n", patched("prod"))
    code, report = check_json(rendered(tmp_path, text))
    [finding] = by_rule(report, RULE)
    assert code == 1 and finding["severity"] == "error"
    assert finding["object"]["namespace"] == "bots-dev"
    assert (f"runs ghcr.io/openclaw/openclaw:2026.9.6-slim@{OLD} but moltgen validated "
            "ghcr.io/openclaw/openclaw:2026.9.6-slim (moltgen.dev/pinned-image)") in finding["message"]


def test_a_hand_edited_overlay_is_found(tmp_path):
    root = rendered(tmp_path, SPEC)
    kustomization = root / "overlays" / "prod" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace(NEW, OLD))
    _, report = check_json(root)
    [finding] = by_rule(report, RULE)
    assert f"runs ghcr.io/openclaw/openclaw:2026.9.6-slim@{OLD}" in finding["message"]
