"""The project's CI files, written by render from the spec (`ci:`), so `render --check` keeps
them current and every user runs the same gate.

- `.github/workflows/moltgen-pull-request.yml`, the pull-request gate. It fails when the
  committed tree is stale or a rule finds an error. It writes the findings to the job summary
  and as an artifact for every pull request, forks included. It uploads them to code scanning
  only where the token may write (not from a fork). It uses no secret.
- `.github/workflows/moltgen-rotate-gateway-token.yml`: on a schedule, a new gateway token for
  every instance of every environment, and one pull request with all of them. The age key comes
  from a protected GitHub environment.

Both install moltgen from the repository named by the variable MOLTGEN_REPOSITORY, at the tag
of the release that rendered them (v<version>). That release renders the same bytes again, so
`render --check` passes under the moltgen the workflow installs. The variable has no fallback:
in a user's repository, `github.repository` is the user's own project, not moltgen.

- `.pre-commit-config.yaml`, when `ci.preCommit` asks for it: moltgen's two hooks from
  `ci.moltgenRepository` at the same tag.

Each third-party action is pinned by the full commit SHA of the release named beside it (ACTIONS).
A tag can be moved to other code; a commit cannot.

The workflows are written as text, not dumped from data, so that the comments reach the user.
Everything interpolated is checked first: environment names are DNS labels, the GitHub
environment matches spec.model.GITHUB_ENVIRONMENT, and the spec's file name matches SPEC_NAME.
"""

from __future__ import annotations

import re

from moltgen.core.release import release
from moltgen.spec.project import Project
from moltgen.tree import PRE_COMMIT_CONFIG, Tree, header
from moltgen.tree import PULL_REQUEST_WORKFLOW as PULL_REQUEST_FILE
from moltgen.tree import ROTATION_WORKFLOW as ROTATION_FILE

# The spec's file name goes into shell commands and a hashFiles() pattern unquoted.
SPEC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
PYTHON = "3.11"
# Every second month: well inside the 90 days of the secret-rotation-age rule.
ROTATION_CRON = "23 4 1 */2 *"

# Each action at the commit of the release named beside it, as that release's tag pointed when
# it was recorded. Move one by replacing both, from the action's own repository.
ACTIONS: dict[str, tuple[str, str]] = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/cache": ("27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "github/codeql-action/upload-sarif": ("8aad20d150bbac5944a9f9d289da16a4b0d87c1e", "v4.36.2"),
    "peter-evans/create-pull-request": ("5f6978faf089d4d20b00c7766989d076bb2fc7f1", "v8.1.1"),
}
FINDINGS_ARTIFACT = "moltgen-findings"
# A new push to a pull request makes its running check moot; a rotation is never cut short (its
# branch would be half-pushed), a second one waits.
PULL_REQUEST_CONCURRENCY = """\
concurrency:
  group: moltgen-${{ github.event.pull_request.number }}
  cancel-in-progress: true
"""
ROTATION_CONCURRENCY = """\
concurrency:
  group: moltgen-rotate-gateway-token
  cancel-in-progress: false
"""


def uses(action: str) -> str:
    sha, tag = ACTIONS[action]
    return f"uses: {action}@{sha}  # {tag}"


def ci_files(project: Project) -> Tree:
    """The CI files `ci:` asks for; none for a project below its repository's root, whose
    `.github/` and pre-commit config render cannot reach."""
    ci = project.base.ci
    if project.base.gitops.path or not SPEC_NAME.fullmatch(project.spec_name):
        return {}
    files = {}
    if ci.github:
        files[PULL_REQUEST_FILE] = _pull_request(project)
        rotated = rotated_environments(project)
        if rotated:
            files[ROTATION_FILE] = _rotation(project, rotated)
    if ci.pre_commit and ci.moltgen_repository:
        files[PRE_COMMIT_CONFIG] = _pre_commit(ci.moltgen_repository, project)
    return {path: (header(project.spec_name) + "#\n" + text).encode() for path, text in files.items()}


def _pre_commit(repository: str, project: Project) -> str:
    """The hooks of moltgen's .pre-commit-hooks.yaml, from the release that rendered this file
    (its tag), with the spec's name when it is not moltgen.yaml."""
    args = f"\n        args: [-f, {project.spec_name}]" if _spec_flag(project) else ""
    return f"""\
# pre-commit (https://pre-commit.com): run `pre-commit install` once. Both hooks run on every
# commit: the tree's inputs are named in the spec, so no file pattern could list them.
repos:
  - repo: https://github.com/{repository}
    rev: v{release()}
    hooks:
      - id: moltgen-render-check{args}
      - id: moltgen-check{args}
"""


def rotated_environments(project: Project) -> list[str]:
    """The environments with a gateway token in encrypted Secrets: every overlay of the
    environment has age recipients (without them render writes no Secret to rotate)."""
    return [env for env in project.environments
            if all(target.spec.gateway.auth.mode == "token" and target.spec.sops.age_recipients
                   for target in project.targets_of(env))]


def _spec_flag(project: Project) -> str:
    return "" if project.spec_name == "moltgen.yaml" else f" -f {project.spec_name}"


def _install() -> str:
    """The pinned install; it refuses to guess the repository (one line that says what to set)."""
    return f"""\
      - name: Install moltgen {release()} (pinned)
        run: |
          if [ -z "$MOLTGEN_REPOSITORY" ]; then
            echo "::error::the repository variable MOLTGEN_REPOSITORY is not set:" \\
              "set it to the moltgen repository to install from (owner/name;" \\
              "Settings > Secrets and variables > Actions > Variables)"
            exit 1
          fi
          python -m pip install "moltgen @ git+https://github.com/${{MOLTGEN_REPOSITORY}}@v${{MOLTGEN_VERSION}}"
"""


def _common(name: str) -> str:
    return f"""\
# moltgen is installed from the repository named by the variable MOLTGEN_REPOSITORY (Settings >
# Secrets and variables > Actions > Variables: owner/name of the moltgen you trust), at the tag
# of the release that rendered this file. `moltgen render` under another release moves the pin.
name: {name}
"""


# Quoted: YAML 1.1 (yamllint's truthy rule) reads a bare `on` as true; GitHub takes either.
ON = '"on":'


def _env(concurrency: str) -> str:
    return f"""\
permissions: {{}}

{concurrency}
defaults:
  run:
    shell: bash

env:
  MOLTGEN_REPOSITORY: ${{{{ vars.MOLTGEN_REPOSITORY }}}}
  MOLTGEN_VERSION: "{release()}"
"""


def _setup(fetch_all: bool = False) -> str:
    depth = "\n          fetch-depth: 0  # the target branch too, for --base-policy" if fetch_all else ""
    return f"""\
      - {uses("actions/checkout")}
        with:{depth}
          persist-credentials: false
      - {uses("actions/setup-python")}
        with:
          python-version: "{PYTHON}"
"""


def _pull_request(project: Project) -> str:
    f = _spec_flag(project)
    cache_key = f"hashFiles('{project.spec_name}', '.moltgen/manifest', 'policies/**')"
    return f"""\
# The pull-request gate. It fails when the committed tree is not what {project.spec_name} renders,
# or when a policy rule finds an error. On every pull request, forks included, it writes the
# findings to the job summary and keeps them as the artifact {FINDINGS_ARTIFACT}. It uploads them
# to code scanning only where the token may (not from a fork). It reads no secret: Secrets are
# checked by their keyless sops facts.
{_common("moltgen")}{ON}
  pull_request:

{_env(PULL_REQUEST_CONCURRENCY)}
jobs:
  check:
    name: render --check and policy check
    runs-on: ubuntu-latest
    permissions:
      contents: read  # the checkout; nothing is written
    env:
      # The pull request's own policies/policy.yaml could waive the rules that judge it: check
      # reads the policy (and custom rules) of the branch it targets instead.
      MOLTGEN_BASE_POLICY: origin/${{{{ github.base_ref }}}}
    steps:
{_setup(fetch_all=True)}\
      - name: moltgen's build cache (a pull request's check starts warm)
        {uses("actions/cache")}
        with:
          path: ~/.cache/moltgen
          # One entry per release and tree (the runner is always ubuntu-latest); the newest
          # entry of this release is restored when the tree has changed.
          key: moltgen-${{{{ env.MOLTGEN_VERSION }}}}-${{{{ {cache_key} }}}}
          restore-keys: |
            moltgen-${{{{ env.MOLTGEN_VERSION }}}}-
{_install()}\
      - name: The committed tree is what {project.spec_name} renders
        run: moltgen render{f} --check
      - name: Policy check (SARIF for code scanning)
        run: moltgen check{f} --base-policy "$MOLTGEN_BASE_POLICY" --format sarif --output moltgen.sarif --fail-on error
      - name: Policy check (summary)
        if: always()
        run: moltgen check{f} --base-policy "$MOLTGEN_BASE_POLICY" --format markdown --output moltgen.md --fail-on error
      - name: Job summary
        if: always() && hashFiles('moltgen.md') != ''
        run: cat moltgen.md >> "$GITHUB_STEP_SUMMARY"
      - name: Keep the findings
        if: always()
        {uses("actions/upload-artifact")}
        with:
          name: {FINDINGS_ARTIFACT}
          path: |
            moltgen.sarif
            moltgen.md
          if-no-files-found: ignore

  code-scanning:
    name: Upload the findings to code scanning
    needs: check
    # A fork's pull request gets a token that cannot write security events: its findings are
    # in the summary and the artifact.
    if: always() && github.event.pull_request.head.repo.full_name == github.repository
    runs-on: ubuntu-latest
    permissions:
      actions: read  # upload-sarif reads the run's workflow (private repositories)
      contents: read
      security-events: write
    steps:
      - {uses("actions/checkout")}
        with:
          persist-credentials: false
      - {uses("actions/download-artifact")}
        with:
          name: {FINDINGS_ARTIFACT}
      - name: Upload
        if: hashFiles('moltgen.sarif') != ''
        {uses("github/codeql-action/upload-sarif")}
        with:
          sarif_file: moltgen.sarif
          category: moltgen
"""


def _rotation(project: Project, rotated: list[str]) -> str:
    f = _spec_flag(project)
    environments = " ".join(rotated)
    github_environment = project.base.ci.rotation_environment
    return f"""\
# On a schedule, a new gateway token for every instance of every environment: `moltgen secrets
# rotate ENV gatewayToken --all-instances`. Each Secret gets a random value of its own, and only
# that key's ciphertext changes. The pod template's checksum rolls the Deployment. The job opens
# one pull request for all of them; merging it is the rotation, synced by Argo CD or Flux.
# The private age key is the secret SOPS_AGE_KEY of the GitHub environment {github_environment}
# (Settings > Environments): the contents of keys.txt, an identity that is a recipient of every
# environment. Protect that environment with required reviewers or a deployment branch rule
# (main only), so that no other branch or workflow reads the key that decrypts prod.
{_common("moltgen-rotate-gateway-token")}{ON}
  schedule:
    - cron: "{ROTATION_CRON}"
  workflow_dispatch:

{_env(ROTATION_CONCURRENCY)}
jobs:
  rotate:
    runs-on: ubuntu-latest
    environment: {github_environment}
    permissions:
      contents: write  # push the rotation branch
      pull-requests: write  # open the pull request
    env:
      MOLTGEN_ENVIRONMENTS: {environments}
    steps:
{_setup()}\
{_install()}\
      - name: Rotate the gateway tokens
        env:
          SOPS_AGE_KEY: ${{{{ secrets.SOPS_AGE_KEY }}}}
        run: |
          for env in $MOLTGEN_ENVIRONMENTS; do
            moltgen secrets rotate{f} "$env" gatewayToken --all-instances
          done
      - name: The tree is rendered
        run: moltgen render{f} --check
      - name: Open one pull request for every environment
        {uses("peter-evans/create-pull-request")}
        with:
          branch: moltgen/rotate-gateway-token
          commit-message: "Rotate the gateway tokens (moltgen secrets rotate)"
          title: "Rotate the gateway tokens"
          body: >-
            Scheduled by .github/workflows/moltgen-rotate-gateway-token.yml: a new gatewayToken
            for every instance of {environments}. Merging syncs it; each Deployment rolls because
            its pod template carries the Secret's checksum. Read a new token with `moltgen
            secrets get ENV gatewayToken`.
          delete-branch: true
"""
