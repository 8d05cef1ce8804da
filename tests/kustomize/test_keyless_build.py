"""Argo CD mode judges what Argo CD builds: the keyless build of a KSOPS overlay (what check,
build and diff see, moltgen.kustomize.ksops) equals the checkout built as Argo CD's repo
server builds it, object for object, or the layout is refused at its line.

The checkout build is the real `kubectl kustomize --enable-alpha-plugins` with a KSOPS
STAND-IN: KSOPS itself is not installable here (no Go toolchain for it, no package in the
registries), so an exec plugin in kustomize's legacy plugin home takes its place. Like KSOPS it
is run by kustomize in the kustomization's directory with the generator's configuration file,
reads the listed files relative to that directory, and prints their objects.
What the stand-in cannot emulate: decryption. Real KSOPS prints the Secrets decrypted, without
their `sops` field; the stand-in prints them as they are, so the two builds compare equal
where the real ones differ only in those values. kubectl's kustomize has no `--enable-exec`,
so the KRM-function form of the generator (`config.kubernetes.io/function: exec: {path:
ksops}`) cannot run here; the legacy form below is the same program on the same paths.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from moltgen.core.errors import MoltgenError
from moltgen.kustomize import batch
from moltgen.kustomize import engine as kustomize

STAND_IN = f"""#!{sys.executable}
# KSOPS stand-in (tests/kustomize/test_keyless_build.py): prints the listed files' objects.
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
objects = []
for name in config["files"]:
    with open(name) as handle:
        objects += [o for o in yaml.safe_load_all(handle) if o]
yaml.safe_dump_all(objects, sys.stdout)
"""

GENERATOR = "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: ksops\nfiles:\n{files}"


def secret(name: str) -> str:
    return (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: Opaque\n"
            "stringData:\n  token: ENC[AES256_GCM,data:c2VjcmV0,iv:aXY=,tag:dGFn,type:str]\n"
            "sops:\n  age:\n  - recipient: age1example\n    enc: x\n  version: 3.9.4\n")


def generator(*files: str) -> str:
    return GENERATOR.format(files="".join(f"- {f}\n" for f in files))


JOB = ("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n  template:\n"
       "    spec:\n      restartPolicy: Never\n      containers:\n      - name: c\n"
       "        image: busybox@sha256:" + "a" * 64 + "\n")
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n"

# Each layout: its files, and the overlays to build. Built alone and as one fleet.
LAYOUTS: dict[str, tuple[dict[str, str], list[str]]] = {
    "overlay transformers over generated secrets": ({
        "o/kustomization.yaml": "namespace: team\nnamePrefix: p-\nlabels:\n- pairs: {app: a}\n"
                                "generators:\n- ksops.yaml\nresources:\n- cm.yaml\n"
                                "patches:\n- path: patches/secret.yaml\n",
        "o/ksops.yaml": generator("secrets/a.enc.yaml", "b.enc.yaml"),
        "o/secrets/a.enc.yaml": secret("a"), "o/b.enc.yaml": secret("b"),
        "o/cm.yaml": CM.format(name="c"),
        "o/patches/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n"
                                 "  annotations: {patched: 'yes'}\n",
    }, ["o"]),
    "a KSOPS base under overlays that climb to it": ({
        "base/kustomization.yaml": "generators:\n- ksops.yaml\nresources:\n- job.yaml\n",
        "base/ksops.yaml": generator("s.enc.yaml"), "base/s.enc.yaml": secret("s"),
        "base/job.yaml": JOB.format(name="j"),
        "overlays/prod/deep/a/b/kustomization.yaml": "namespace: prod\nresources:\n"
                                                     "- ../../../../../base\n",
        "overlays/dev/kustomization.yaml": "namespace: dev\nnameSuffix: -dev\n"
                                           "resources:\n- ../../base\n",
    }, ["overlays/prod/deep/a/b", "overlays/dev"]),
    "a component that generates with KSOPS": ({
        "c/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                                "generators:\n- ksops.yaml\n",
        "c/ksops.yaml": generator("s.enc.yaml"), "c/s.enc.yaml": secret("from-component"),
        "o/kustomization.yaml": "namespace: x\nresources:\n- cm.yaml\ncomponents:\n- ../c\n",
        "o/cm.yaml": CM.format(name="c"),
    }, ["o"]),
    "an inline KSOPS generator beside a builtin transformer file": ({
        "o/kustomization.yaml": "generators:\n- |\n  " + generator("s.enc.yaml").replace("\n", "\n  ")
                                + "\ntransformers:\n- labels.yaml\nresources:\n- cm.yaml\n",
        "o/labels.yaml": "apiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: l\n"
                         "labels: {team: t}\nfieldSpecs:\n- path: metadata/labels\n  create: true\n",
        "o/s.enc.yaml": secret("s"), "o/cm.yaml": CM.format(name="c"),
    }, ["o"]),
    "nested KSOPS overlays": ({
        "base/kustomization.yaml": "generators:\n- ksops.yaml\n",
        "base/ksops.yaml": generator("s.enc.yaml"), "base/s.enc.yaml": secret("base"),
        "o/kustomization.yaml": "namespace: o\nresources:\n- ../base\ngenerators:\n- ksops.yaml\n",
        "o/ksops.yaml": generator("s.enc.yaml"), "o/s.enc.yaml": secret("overlay"),
    }, ["o"]),
}

# Layouts the keyless copy cannot reproduce: refused at the line that names the path.
REFUSED: dict[str, tuple[dict[str, str], str, str]] = {
    # The attack of issue 20: `../` leaves the folder and comes back, which kustomize allows;
    # from a copy elsewhere it would reach other files (an attacker's, in a shared /tmp).
    "a transformer that leaves the overlay's folder and comes back": ({
        "overlays/prod/deep/kustomization.yaml": "generators:\n- ksops.yaml\n"
                                                 "transformers:\n- ../deep/t.yaml\n",
        "overlays/prod/deep/ksops.yaml": generator("s.enc.yaml"),
        "overlays/prod/deep/s.enc.yaml": secret("s"),
        "overlays/prod/deep/t.yaml": "apiVersion: builtin\nkind: NamespaceTransformer\n"
                                     "metadata:\n  name: n\n  namespace: benign\n",
    }, "overlays/prod/deep", "overlays/prod/deep/kustomization.yaml:4"),
    "a patch that does the same": ({
        "o/kustomization.yaml": "generators:\n- ksops.yaml\npatches:\n- path: ../o/p.yaml\n",
        "o/ksops.yaml": generator("s.enc.yaml"), "o/s.enc.yaml": secret("s"),
        "o/p.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  labels: {a: b}\n",
    }, "o", "o/kustomization.yaml:4"),
    "encrypted files that climb out of the overlay's folder": ({
        "o/deep/kustomization.yaml": "generators:\n- ksops.yaml\n",
        "o/deep/ksops.yaml": generator("../s.enc.yaml"),
        "o/s.enc.yaml": secret("s"),
    }, "o/deep", "o/deep/kustomization.yaml:2"),
}


@pytest.fixture(scope="module")
def plugin_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("xdg")
    program = home / "kustomize" / "plugin" / "viaduct.ai" / "v1" / "ksops" / "ksops"
    program.parent.mkdir(parents=True)
    program.write_text(STAND_IN)
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return home


def plant(root: Path, files: dict[str, str]) -> None:
    (root / ".git").mkdir()
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def checkout_build(directory: Path, plugin_home: Path) -> list[dict]:
    """What Argo CD's repo server builds: the checkout itself, KSOPS run as a plugin."""
    result = subprocess.run([*kustomize.engine_command(), "--enable-alpha-plugins", str(directory)],
                            capture_output=True, text=True, timeout=120, check=False,
                            env={**os.environ, "XDG_CONFIG_HOME": str(plugin_home)})
    assert result.returncode == 0, result.stderr
    return [o for o in yaml.safe_load_all(result.stdout) if o]


def objects(text: str) -> list[dict]:
    return [o for o in yaml.safe_load_all(text) if o]


@pytest.mark.parametrize("name", LAYOUTS)
def test_the_keyless_build_is_the_checkout_build(name, tmp_path, plugin_home):
    files, overlays = LAYOUTS[name]
    plant(tmp_path, files)
    directories = [tmp_path / overlay for overlay in overlays]
    expected = [checkout_build(d, plugin_home) for d in directories]
    assert all(any(o["kind"] == "Secret" for o in built) for built in expected)  # KSOPS ran
    assert [objects(kustomize.build(d)) for d in directories] == expected
    # a fleet's chunked build (one kustomize run for all, split again) agrees as well
    assert [objects(text) for text in batch.build_each(directories)] == expected


@pytest.mark.parametrize("name", REFUSED)
def test_a_layout_the_copy_cannot_reproduce_is_refused_at_its_line(name, tmp_path, plugin_home,
                                                                    monkeypatch):
    files, overlay, where = REFUSED[name]
    plant(tmp_path, files)
    assert checkout_build(tmp_path / overlay, plugin_home)  # a layout Argo CD does build
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MoltgenError) as caught:
        kustomize.build(tmp_path / overlay)
    assert str(caught.value).startswith(where), str(caught.value)
