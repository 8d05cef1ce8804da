"""Every path the gateway writes lies on a writable volume of the rendered pod, whose root
file system is read-only (what each release writes: docs/openclaw.md)."""

from __future__ import annotations

import posixpath

from support import REPO

from moltgen.core.yamlio.parse import load_documents
from moltgen.kustomize import engine as kustomize

# Where OpenClaw writes, as the pod's env names it (or a fixed path): the state dir, the cache
# that 2026.9.6 needs ($XDG_CACHE_HOME) and its log under /tmp.
WRITTEN_ENV = ("OPENCLAW_STATE_DIR", "XDG_CACHE_HOME")
WRITTEN_FIXED = ("/tmp/openclaw",)


def _gateway(environment: str) -> tuple[dict, dict]:
    objects = [d.data for d in load_documents(kustomize.build(REPO / "overlays" / environment), "build")]
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    return pod, pod["containers"][0]


def _covering_mount(container: dict, path: str) -> dict | None:
    mounts = [m for m in container["volumeMounts"]
              if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")]
    return max(mounts, key=lambda m: len(m["mountPath"]), default=None)


def test_every_written_path_is_on_a_writable_volume_under_a_read_only_root():
    for environment in ("dev", "prod"):
        pod, container = _gateway(environment)
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        env = {e["name"]: e.get("value") for e in container["env"]}
        written = [env[name] for name in WRITTEN_ENV] + list(WRITTEN_FIXED)
        volumes = {v["name"]: v for v in pod["volumes"]}
        for path in written:
            assert path and posixpath.isabs(path), (environment, path)
            mount = _covering_mount(container, path)
            assert mount is not None, f"{environment}: {path} lies on the read-only root"
            assert not mount.get("readOnly"), (environment, path, mount)
            assert "configMap" not in volumes[mount["name"]], (environment, path)


def test_the_config_is_read_only_and_says_so():
    for environment in ("dev", "prod"):
        _, container = _gateway(environment)
        env = {e["name"]: e.get("value") for e in container["env"]}
        config = _covering_mount(container, env["OPENCLAW_CONFIG_PATH"])
        assert config is not None and config["readOnly"] is True
        assert env["OPENCLAW_CONFIG_READONLY"] == "1"
