"""The spec that `moltgen init` writes: small, commented, and valid as it stands."""

from moltgen.spec.schema import MODELINE


def starter_spec(name: str, namespace: str, recipients: list[str] | None = None) -> str:
    sops = (f"sops:\n  ageRecipients: [{', '.join(recipients)}]   # who can decrypt the Secrets\n\n"
            if recipients else
            "# sops:\n#   ageRecipients: [age1...]   # `moltgen secrets keygen` prints one; needed for the Secrets\n\n")
    return f"""{MODELINE}
# moltgen spec: one Moltbot (OpenClaw) gateway and its environments.
# `moltgen render` writes base/ and overlays/<env>/; `moltgen check` lints them.
name: {name}
namespace: {namespace}

image:
  repository: ghcr.io/openclaw/openclaw
  tag: 2026.7.1-2-slim          # pin a release; add `digest: sha256:...` for prod
  # A digest belongs to the tag beside it, and wins when the image is pulled: an environment
  # that changes the tag sets its own digest (or `digest: null`); render refuses otherwise.

gateway:
  port: 18789
  bind: lan                     # the only bind reachable by the Service inside a pod
  auth:
    mode: token                 # gatewayToken is generated into the encrypted Secret

providers:
  anthropic: {{enabled: true}}

channels:
  telegram: {{enabled: false}}

resources:
  requests: {{cpu: 250m, memory: 512Mi}}
  limits: {{cpu: "1", memory: 2Gi}}

persistence:
  size: 10Gi

ingress:
  enabled: false                # set a host (and tls) to expose the Control UI
  # host: openclaw.example.com
  # className: nginx
  # clusterIssuer: letsencrypt

{sops}environments:
  dev:
    namespace: {namespace}-dev
    resources:
      limits: {{cpu: 500m, memory: 1Gi}}
      requests: {{cpu: 100m, memory: 256Mi}}
  prod: {{}}
"""

YAMLLINT_FILE = ".yamllint.yaml"
# yamllint's defaults, fitted to the files moltgen and sops write: no leading `---` (kustomize,
# Argo CD and Flux need none), lists at their key's column (the style of kustomize's own
# output), and ciphertext lines as long as sops makes them. Everything else stays default.
YAMLLINT_CONFIG = """\
# yamllint (https://yamllint.readthedocs.io) for a moltgen project, written by `moltgen init`:
# its defaults, fitted to the files moltgen and sops generate.
extends: default
rules:
  document-start: disable
  indentation: {indent-sequences: whatever}
  line-length: {max: 120, allow-non-breakable-inline-mappings: true}
"""
