"""TEST DOUBLE of KSOPS (github.com/viaduct-ai/kustomize-sops), written for the tests.

It speaks KSOPS's two protocols and decrypts with the real `sops`, as KSOPS does:
- legacy exec plugin: kustomize runs it with the generator file's path as argv[1] and reads
  the generated objects from stdout;
- KRM exec function: a ResourceList arrives on stdin (the generator as functionConfig), and a
  ResourceList with the decrypted objects goes to stdout.
Files are relative to the current directory (kustomize runs it in the overlay directory).
"""

import subprocess
import sys
from pathlib import Path

import yaml


def decrypt(files: list[str]) -> list[dict]:
    sops = str(Path(sys.executable).parent / "sops")
    objects = []
    for name in files:
        plaintext = subprocess.run([sops, "decrypt", name], check=True, capture_output=True).stdout
        objects.extend(doc for doc in yaml.safe_load_all(plaintext) if doc)
    return objects


def main() -> None:
    if len(sys.argv) > 1:
        config = yaml.safe_load(Path(sys.argv[1]).read_text())
        sys.stdout.write(yaml.safe_dump_all(decrypt(config["files"])))
        return
    resource_list = yaml.safe_load(sys.stdin)
    items = decrypt(resource_list["functionConfig"]["files"])
    sys.stdout.write(yaml.safe_dump({"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList",
                                     "items": resource_list.get("items", []) + items}))


if __name__ == "__main__":
    main()
