"""Generate a fleet project for the benchmark: one spec with N instances, dev and prod.

Each environment gets its own fresh age key; the private keys go to `keys.txt` beside the spec,
outside the rendered tree, so the bench can point SOPS_AGE_KEY_FILE at them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from moltgen.secrets.age import keygen

SPEC = """\
name: assistant
namespace: assistants
image: {{repository: ghcr.io/openclaw/openclaw, tag: 2026.7.1-2-slim}}
gateway: {{port: 18789, bind: lan, auth: {{mode: token}}}}
providers: {{anthropic: {{enabled: true}}}}
channels: {{slack: {{enabled: true}}}}
resources: {{requests: {{cpu: 250m, memory: 512Mi}}, limits: {{cpu: "1", memory: 2Gi}}}}
persistence: {{enabled: true, size: 5Gi}}
ingress:
  enabled: true
  className: nginx
  host: assistants.example.com
  tls: {{secretName: assistants-tls}}
  clusterIssuer: letsencrypt
networkPolicy: {{enabled: true, allowFromNamespaces: [ingress-nginx]}}
environments:
  dev:
    namespace: assistants-dev
    sops: {{ageRecipients: [{dev}]}}
    resources: {{requests: {{cpu: 100m, memory: 256Mi}}, limits: {{cpu: 500m, memory: 1Gi}}}}
    ingress: {{host: dev.assistants.example.com, tls: {{secretName: assistants-dev-tls}}}}
  prod:
    sops: {{ageRecipients: [{prod}]}}
instances:
"""


def fleet_spec(instances: int, dev_recipient: str, prod_recipient: str) -> str:
    lines = [SPEC.format(dev=dev_recipient, prod=prod_recipient)]
    for index in range(instances):
        lines.append(f"  - name: user-{index:04d}\n    owner: user-{index:04d}\n")
        if index % 10 == 3:  # some instances differ from the rest, as in real fleets
            lines.append("    overrides: {resources: {limits: {memory: 4Gi}}}\n")
    return "".join(lines)


def write_fleet(directory: Path, instances: int) -> Path:
    """Create directory/moltgen.yaml and directory/keys.txt; returns the spec's path."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = directory / "keys.txt"
    dev, prod = keygen(keys), keygen(keys)
    spec = directory / "moltgen.yaml"
    spec.write_text(fleet_spec(instances, dev.recipient, prod.recipient))
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--instances", type=int, default=10)
    args = parser.parse_args()
    print(write_fleet(args.directory, args.instances))


if __name__ == "__main__":
    main()
