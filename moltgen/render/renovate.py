"""renovate.json5 for an Argo CD project: Renovate proposes OpenClaw releases as edits to the
spec, never to a generated file, and re-renders the tree on its branch.

Images are found with Renovate's JSONata custom manager on the parsed spec (`fileFormat:
yaml`), not with a regex over its text: moltgen accepts an image in block or flow style, quoted
or not, at the top level, in `environments.<env>` and in `instances[].overrides`, and an
override may write only the tag (the repository then comes from the top level, or moltgen's
default, or each environment's for an instance). A regex sees one of those layouts; the
parsed spec is every layout at once. Each
dependency's `depType` says where it is written (`environments.dev.image`), so a pull request
names the layer it moves.

Generated paths are in `ignorePaths`, so Renovate's built-in managers (kustomize finds the
`images:` of every overlay) never propose edits that `render --check` would reject; the same
paths are the post-upgrade `fileFilters`, so the re-rendered tree lands in the same commit.
"""

from __future__ import annotations

import json
import re

from moltgen.spec.model import Image
from moltgen.spec.project import Project
from moltgen.tree import MANAGED_DIRS, MANAGED_ROOT_FILES, MANIFEST_FILE

RENOVATE_FILE = "renovate.json5"
# Tags like 2026.7.1, 2026.7.1-2, 2026.7.1-2-slim: a release, a rebuild, a variant.
RELEASE_VERSIONING = (r"regex:^(?<major>\d+)\.(?<minor>\d+)\.(?<patch>\d+)(-(?<build>\d+))?"
                      r"(?<compatibility>-[a-z]+)?$")


def images_query(default_repository: str) -> str:
    """The JSONata query: a dependency for each image mapping that writes a tag or a digest (a
    digest is written in the layer of its tag: moltgen.spec.pins). A mapping without its own
    repository runs from the one below it: the top level's for an environment, and each
    environment's for an instance, so an instance that writes only a tag where environments
    move the repository (a mirror) is one dependency per repository it runs from. A key whose
    value is not a string (absent, or `digest: null`) is left out, and the result is one flat
    list, as Renovate's result schema requires."""
    return " ".join(f"""(
      $repository := function($image, $below) {{ $type($image.repository) = 'string' ? $image.repository : $below }};
      $top := $repository(image, {json.dumps(default_repository)});
      $underEnvironments := $distinct([$each(environments, function($env) {{ $repository($env.image, $top) }})]);
      $dep := function($image, $repositories, $where) {{
        ($type($image.tag) = 'string' or $type($image.digest) = 'string') ?
          [$map($type($image.repository) = 'string' ? [$image.repository] : $repositories, function($name) {{ {{
            'depName': $name,
            'currentValue': $type($image.tag) = 'string' ? $image.tag,
            'currentDigest': $type($image.digest) = 'string' ? $image.digest,
            'depType': $where
          }} }})]
      }};
      $flat := function($items) {{ $reduce($items, function($all, $item) {{
        $append($all, $type($item) = 'array' ? $flat($item) : $item) }}, []) }};
      $flat([
        $dep(image, [$top], 'image'),
        $each(environments, function($env, $name) {{ $dep($env.image, [$top], 'environments.' & $name & '.image') }}),
        instances.$dep(overrides.image, $count($underEnvironments) > 0 ? $underEnvironments : [$top],
                       'instances.' & name & '.image')
      ])
    )""".split())


def generated_paths(prefix: str = "") -> list[str]:
    """Every file render writes, as Renovate globs relative to the repository root."""
    own = [f"{directory}/**" for directory in MANAGED_DIRS] + [*MANAGED_ROOT_FILES, MANIFEST_FILE]
    return [prefix + path for path in own]  # the generated workflows among the root files


def renovate_config(project: Project) -> str:
    """renovate.json5 (JSON text; the caller adds the header)."""
    folder = project.base.gitops.path
    prefix = f"{folder}/" if folder else ""
    spec_path = prefix + project.spec_name
    paths = generated_paths(prefix)
    config = {
        "$schema": "https://docs.renovatebot.com/renovate-schema.json",
        "ignorePaths": paths,
        "customManagers": [{
            "customType": "jsonata",
            "fileFormat": "yaml",
            "description": f"The OpenClaw images in {spec_path}; moltgen renders the manifests from them",
            "managerFilePatterns": [f"/^{re.escape(spec_path)}$/"],
            "matchStrings": [images_query(Image.model_fields["repository"].default)],
            "datasourceTemplate": "docker",
            "versioningTemplate": RELEASE_VERSIONING,
        }],
        # Renovate run by yourself (allowedPostUpgradeCommands) re-renders on its branch; the
        # hosted app cannot, and `moltgen render --check` on the pull request says what to do.
        "postUpgradeTasks": {"commands": ["moltgen render"], "fileFilters": paths,
                             "executionMode": "branch"},
    }
    return json.dumps(config, indent=2) + "\n"
