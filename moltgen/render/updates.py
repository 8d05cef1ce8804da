"""Image updates the GitOps way: a new OpenClaw release becomes a change to moltgen.yaml, the
source of truth, never to a generated file, so `render --check` stays the gate.

Argo CD has no image updater of its own that writes to Git here, so Argo CD projects get a
Renovate configuration (`renovate.json5`, moltgen.render.renovate) that finds every image of
moltgen.yaml and updates its tag (and digest). Flux projects get Flux's image automation
(`gitops/flux/image-*.yaml`): an ImageRepository, an ImagePolicy and an ImageUpdateAutomation
with the Setters strategy, whose marker sits on the tag line of moltgen.yaml. Either way the
update arrives as a branch (Renovate's pull request, Flux's push branch) on which `moltgen
render` brings the tree along.
"""

from __future__ import annotations

import json
import re
from typing import Any

from moltgen.spec.project import Project

# Tags like 2026.7.1, 2026.7.1-2, 2026.7.1-2-slim: a release, a rebuild, a variant.
VERSION_TAG = re.compile(r"^(?P<version>[0-9]+\.[0-9]+\.[0-9]+)(?P<build>-[0-9]+)?(?P<variant>-[a-z]+)?$")
UPDATE_BRANCH = "moltgen/image-update"


def setter_marker(project: Project) -> str:
    """The comment Flux's Setters strategy looks for on the tag line of moltgen.yaml."""
    namespace = project.base.gitops.namespace or "flux-system"
    return json.dumps({"$imagepolicy": f"{namespace}:{project.base.name}:tag"})


def flux_image_automation(project: Project) -> dict[str, dict[str, Any]]:
    """gitops/flux/ files for Flux's image automation; none when the tag is not a release."""
    base = project.base
    match = VERSION_TAG.match(base.image.tag or "")
    if match is None:
        return {}
    gitops = base.gitops
    namespace = gitops.namespace or "flux-system"
    name = base.name
    variant = re.escape(match["variant"] or "")
    path = "./" + gitops.path if gitops.path else "./"
    return {
        "gitops/flux/image-repository.yaml": {
            "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"image": base.image.repository, "interval": "6h"},
        },
        "gitops/flux/image-policy.yaml": {
            "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "imageRepositoryRef": {"name": name},
                # Same variant (-slim or not), newest release; a rebuild (-2) keeps its release.
                "filterTags": {"pattern": f"^(?P<version>[0-9]+\\.[0-9]+\\.[0-9]+)(-[0-9]+)?{variant}$",
                               "extract": "$version"},
                "policy": {"semver": {"range": f">={match['version']}"}},
            },
        },
        "gitops/flux/image-update-automation.yaml": {
            "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "interval": "1h",
                "sourceRef": {"kind": "GitRepository", "name": name},
                "git": {
                    "checkout": {"ref": {"branch": gitops.revision}},
                    "commit": {"author": {"name": "fluxcdbot", "email": "fluxcdbot@users.noreply.github.com"},
                               "messageTemplate": f"Update {base.image.repository} in {project.spec_name}; "
                                                  "run `moltgen render` on this branch"},
                    # A branch, not the synced one: the update is reviewed and rendered first.
                    "push": {"branch": UPDATE_BRANCH},
                },
                "update": {"path": path, "strategy": "Setters"},
            },
        },
    }


def missing_setter(project: Project, spec_text: str) -> str | None:
    """A warning when a Flux project's spec has no setter marker for its image tag."""
    if project.base.gitops.engine != "flux" or not VERSION_TAG.match(project.base.image.tag or ""):
        return None
    if "$imagepolicy" in spec_text:
        return None
    return (f"{project.spec_name}: Flux image automation updates the tag only where it is marked; "
            f"end the image tag line with  # {setter_marker(project)}")
