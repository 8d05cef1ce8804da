"""Run the real OpenClaw gateway as a built overlay's Deployment would run it.

The pod is reproduced from the built objects, not from the spec: the gateway container's
command and args (mapped onto the installed package: the image's WORKDIR is the package, so
`node dist/index.js` runs there), its env (values, and secretKeyRefs read from the decrypted
Secret), its volumes (the ConfigMap's files written where the pod mounts them, in the kubelet's
`..data` symlink layout, emptyDirs and the state volume as fresh directories) and its port.
Paths inside the pod are mapped into a directory per boot. Inside its mount namespace the
pod's root file system and the package are read-only, only the volumes are writable, `/tmp`
is the tmp emptyDir (where the gateway writes its log), and the gateway runs as uid 1000 with
no capabilities (Boot._as_in_a_pod says what this cannot emulate).

A gateway that binds all interfaces (`--bind lan`, as in the pod) runs in a network namespace
of its own (`unshare --net --mount`, as root), where only its loopback exists; the probes run in
the same namespace (`nsenter`). Where namespaces are not allowed, it binds 127.0.0.1 on a free
port instead (NAMESPACES says which). Every process runs in its own process group and is
stopped, with the group, when the boot ends.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moltgen.openclaw.install import Runtime

CLIENT = Path(__file__).parent / "client.mjs"


def _namespaces_work() -> bool:
    try:
        result = subprocess.run(["unshare", "--net", "--mount", "sh", "-c", "ip link set lo up"],
                                capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


NAMESPACES = _namespaces_work()
# Where a boot's directory appears inside its mount namespace: one path for all of them (each
# namespace mounts its own boot on this empty folder), so that paths the gateway records in
# its state (the channel plugins' install paths) hold from one boot to the next, as a pod's
# state volume is always at its mountPath. It is never removed: another boot may be using it.
VIEW = Path("/run/moltgen-pod")
STATE_DIR = "/home/node/.openclaw"  # OPENCLAW_STATE_DIR in the built Deployment


def in_view(pod_path: str) -> Path:
    """Where `pod_path` is inside a boot's namespace."""
    return VIEW / "pod" / pod_path.lstrip("/")


@dataclass
class PodView:
    """What a boot needs from the built objects of one overlay."""

    label: str
    container: dict[str, Any]
    volumes: list[dict[str, Any]]
    config_maps: dict[str, dict[str, str]]
    secret: dict[str, str]  # decrypted stringData
    probes: dict[str, str]  # startup/liveness/readiness -> httpGet path
    allowed_origins: list[str]
    ingress_origin: str | None

    @classmethod
    def of(cls, label: str, objects: list[dict[str, Any]]) -> PodView:
        deployment = next(o for o in objects if o["kind"] == "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        container = next(c for c in pod["containers"] if c["name"] == "gateway")
        secret = next(o for o in objects if o["kind"] == "Secret")
        values = dict(secret.get("stringData") or {})
        config_maps = {o["metadata"]["name"]: dict(o.get("data") or {})
                       for o in objects if o["kind"] == "ConfigMap"}
        probes = {name.removesuffix("Probe"): container[name]["httpGet"]["path"]
                  for name in ("startupProbe", "livenessProbe", "readinessProbe")
                  if "httpGet" in container.get(name, {})}
        ingress = next((o for o in objects if o["kind"] == "Ingress"), None)
        origin = None
        if ingress:
            host = ingress["spec"]["rules"][0]["host"]
            origin = f"{'https' if ingress['spec'].get('tls') else 'http'}://{host}"
        config_text = next(iter(next(iter(config_maps.values())).values()))
        config = json.loads("\n".join(line for line in config_text.splitlines()
                                      if not line.startswith("//")))
        return cls(label, container, pod.get("volumes", []), config_maps, values, probes,
                   config["gateway"]["controlUi"].get("allowedOrigins", []), origin)


@dataclass
class Boot:
    """One gateway process, started in `root`; `log` is what it printed."""

    view: PodView
    runtime: Runtime
    root: Path
    state_template: Path | None = None
    process: subprocess.Popen | None = None
    port: int = 0
    started: float = 0.0
    ready_after: float | None = None
    notes: list[str] = field(default_factory=list)
    read_only: list[Path] = field(default_factory=list)
    pod_env: dict[str, str] = field(default_factory=dict)  # the container's env, as it sees it

    @property
    def log_file(self) -> Path:
        return self.root / "gateway.log"

    def log(self) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        tmp_logs = self.root / "tmp" / "openclaw"
        if tmp_logs.is_dir():
            for path in sorted(tmp_logs.glob("*.log")):
                text += "\n" + path.read_text(errors="replace")
        return text

    def _path(self, pod_path: str) -> Path:
        return self.root / "pod" / pod_path.lstrip("/")

    def _mounts(self) -> dict[str, str]:
        """Pod paths of the container's volume mounts -> their directory in this boot."""
        volumes = {v["name"]: v for v in self.view.volumes}
        mounts = {}
        for mount in self.view.container.get("volumeMounts", []):
            target = self._path(mount["mountPath"])
            volume = volumes[mount["name"]]
            if mount["mountPath"] == "/tmp":
                target = self.root / "tmp"  # its openclaw/ is bind-mounted on /tmp/openclaw
            target.mkdir(parents=True, exist_ok=True)
            if "configMap" in volume:
                data = self.view.config_maps[volume["configMap"]["name"]]
                items = volume["configMap"].get("items") or [{"key": k, "path": k} for k in data]
                _write_config_map(target, {item["path"]: data[item["key"]] for item in items},
                                  volume["configMap"].get("defaultMode", 0o644))
            elif "persistentVolumeClaim" in volume and self.state_template is not None:
                # the state volume after the gateway's first start: the channel plugins it
                # installed from the npm registry are there (docs/openclaw.md)
                # copied, not hard-linked: the gateway refuses a plugin whose files have links
                # elsewhere ("failed plugin directory boundary checks")
                shutil.copytree(self.state_template, target, dirs_exist_ok=True, symlinks=True)
            if "configMap" in volume or mount.get("readOnly"):
                self.read_only.append(target)  # remounted read-only in the namespace
            mounts[mount["mountPath"]] = str(target)
        return mounts

    def _env(self, mounts: dict[str, str]) -> dict[str, str]:
        env = {"PATH": f"{self.runtime.bin_dir}:/usr/bin:/bin", "LANG": "C.UTF-8"}
        for item in self.view.container.get("env", []):
            if "value" in item:
                value = str(item["value"])
            else:
                ref = item["valueFrom"]["secretKeyRef"]
                value = self.view.secret.get(ref["key"], "")
            for pod_path, local in sorted(mounts.items(), key=lambda m: -len(m[0])):
                if value == pod_path or value.startswith(pod_path + "/"):
                    value = local + value[len(pod_path):]
                    break
            else:
                if value.startswith("/home/"):  # HOME: the image's home, not a volume
                    value = str(self._path(value))
                    Path(value).mkdir(parents=True, exist_ok=True)
            env[item["name"]] = value
        return env

    def _argv(self) -> list[str]:
        command = list(self.view.container.get("command") or [])
        args = list(self.view.container.get("args") or [])
        assert command[:2] == ["node", "dist/index.js"], command  # the image's entry point
        argv = [str(self.runtime.node), str(self.runtime.entry), *command[2:], *args]
        self.port = int(argv[argv.index("--port") + 1])
        if not NAMESPACES:
            self.notes.append("no network namespace here: bound 127.0.0.1 on a free port")
            argv[argv.index("--bind") + 1] = "loopback"
            self.port = _free_port()
            argv[argv.index("--port") + 1] = str(self.port)
        return argv

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(exist_ok=True)
        mounts = self._mounts()
        env = self._env(mounts)
        argv = self._argv()
        cwd = str(self.runtime.package)
        if NAMESPACES:
            argv, env, cwd = self._as_in_a_pod(mounts, argv, env)
        self.pod_env = env
        self.started = time.monotonic()
        with open(self.log_file, "wb") as out:
            self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)

    def exec(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`kubectl exec deploy/NAME -c gateway -- node dist/index.js ARGS`: the CLI in the running
        gateway's namespaces (network and mounts), as its user, with its env."""
        assert NAMESPACES and self.process is not None, "exec needs the gateway's namespaces"
        entry = [str(self.runtime.node), str(self.runtime.entry), *args]
        command = ["nsenter", "--target", str(self.process.pid), "--net", "--mount",
                   "sh", "-c", f"cd {shlex.quote(str(self.runtime.package))} && " + _AS_THE_POD_USER,
                   "sh", *entry]
        return subprocess.run(command, env=self.pod_env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False,
                              start_new_session=True)

    def run_inside(self, script: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`sh -c SCRIPT` in this boot's pod, as the gateway would run there (its env, mounts,
        user and namespaces): for tests of the emulation itself."""
        assert NAMESPACES, "the pod's isolation needs namespaces"
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(exist_ok=True)
        mounts = self._mounts()
        argv, env, cwd = self._as_in_a_pod(mounts, ["/bin/sh", "-c", script], self._env(mounts))
        return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False)

    def _as_in_a_pod(self, mounts: dict[str, str], argv: list[str],
                     env: dict[str, str]) -> tuple[list[str], dict[str, str], str]:
        """The command that runs `argv` as the kubelet runs the container: in a network and a
        mount namespace of its own, where the image's file system (the pod's root, HOME under
        it, and the installed package, which stands for the image's WORKDIR) is read-only and
        only the volumes are writable, `/tmp` is the tmp emptyDir, the ConfigMap is read-only,
        and the process runs as uid/gid 1000 (runAsUser, fsGroup: the writable volumes belong
        to 1000) with no capabilities and no new privileges.

        The boot's directory is under pytest's base (mode 0700), which uid 1000 could not
        enter: inside the namespace it is mounted at VIEW, the same path in every boot (each
        namespace mounts its own boot there), and every path the process is given points
        there, so the state volume is always at one path, as a pod's is. The package keeps its own path (npm's wrapper
        names node by it), made reachable by a tmpfs over the first folder above it that only
        root may enter (root's home), as in an image where it lies on the path it was built at.
        What this cannot emulate: seccomp (RuntimeDefault), the image's own files and user
        database, and a real kubelet's fsGroup walk (here: chown)."""
        self.root.chmod(0o755)  # made by pytest as 0700: the pod's user must enter it
        view = VIEW
        view.mkdir(mode=0o755, parents=True, exist_ok=True)
        state = next(e["value"] for e in self.view.container["env"] if e["name"] == "OPENCLAW_STATE_DIR")
        assert state == STATE_DIR, state  # where plugin_state installed the channel plugins
        (self.root / "image").mkdir(exist_ok=True)
        image = self.runtime.bin_dir.parent  # node (bin/) and the releases beside it

        def seen(text: str) -> str:
            host = str(self.root)
            return str(view) + text[len(host):] if text == host or text.startswith(host + "/") else text

        writable = [Path(m) for p, m in mounts.items() if Path(m) not in self.read_only]
        for directory in [*writable, self.root / "tmp"]:  # fsGroup: the volumes are the user's
            subprocess.run(["chown", "-R", "1000:1000", str(directory)], check=True, timeout=120)
        quote = shlex.quote
        held = quote(str(view / "image"))
        steps = [f"mount --bind {quote(str(self.root))} {quote(str(view))}",
                 f"mount --bind {quote(str(image))} {held}", f"mount -o remount,bind,ro {held}"]
        closed = next((a for a in reversed(image.parents) if not a.stat().st_mode & 0o001), None)
        if closed is not None:
            steps += [f"mount -t tmpfs -o mode=0755 tmpfs {quote(str(closed))}",
                      f"mkdir -p {quote(str(image))}"]
        steps += [f"mount --bind {held} {quote(str(image))}",
                  f"mount -o remount,bind,ro {quote(str(image))}"]
        # each writable volume its own mount, so that the read-only root above keeps it writable
        steps += [f"mount --bind {quote(seen(str(v)))} {quote(seen(str(v)))}" for v in writable]
        pod = quote(str(view / "pod"))
        steps += [f"mount --rbind {pod} {pod}", f"mount -o remount,bind,ro {pod}"]
        steps += [f"mount --bind {quote(seen(str(p)))} {quote(seen(str(p)))} && "
                  f"mount -o remount,bind,ro {quote(seen(str(p)))}" for p in self.read_only]
        steps += [f"mount --bind {quote(str(view / 'tmp'))} /tmp",  # the pod's /tmp (emptyDir)
                  "ip link set lo up",
                  f"cd {quote(str(self.runtime.package))}", _AS_THE_POD_USER]
        command = ["unshare", "--net", "--mount", "--propagation", "private",
                   "sh", "-c", " && ".join(steps), "sh", *map(seen, argv)]
        return command, {name: seen(value) for name, value in env.items()}, str(self.root)

    def wait_for(self, pattern: str, timeout: float) -> bool:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if regex.search(self.log()):
                return True
            if self.process is not None and self.process.poll() is not None:
                return bool(regex.search(self.log()))
            time.sleep(1)
        return False

    def client(self, plan: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
        """Run client.mjs next to the gateway (in its network namespace)."""
        plan = {"packageDir": str(self.runtime.package), "port": self.port, **plan}
        argv = [str(self.runtime.node), str(CLIENT), json.dumps(plan)]
        if NAMESPACES:
            argv = ["nsenter", "--target", str(self.process.pid), "--net", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        assert result.returncode == 0, result.stderr[-2000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    def stop(self) -> None:
        stop_group(self.process, signal.SIGTERM, 20)


def stop_group(process: subprocess.Popen | None, first: signal.Signals, wait: float) -> None:
    """Stop a process started in a session of its own, with its whole group: `first`, then
    SIGKILL if it is still there after `wait` seconds."""
    if process is None or process.poll() is not None:
        return
    for sig, timeout in ((first, wait), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


# runAsUser/runAsGroup 1000, no capabilities (drop ALL), allowPrivilegeEscalation: false
_AS_THE_POD_USER = ('exec setpriv --reuid 1000 --regid 1000 --clear-groups --inh-caps=-all '
                    '--bounding-set=-all --no-new-privs "$@"')


def _write_config_map(target: Path, files: dict[str, str], mode: int) -> None:
    """The kubelet's atomic-writer layout for a ConfigMap volume: the files in a timestamped
    directory, `..data` a symlink to it, and each key a symlink through `..data`, so the
    gateway sees the same paths (realpath, lock and backup siblings) as in the pod."""
    stamp = target / time.strftime("..%Y_%m_%d_%H_%M_%S.000000000", time.gmtime())
    stamp.mkdir()
    for name, text in files.items():
        (stamp / name).write_text(text)
        (stamp / name).chmod(mode)
    (target / "..data").symlink_to(stamp.name)
    for name in files:
        (target / name).symlink_to(f"..data/{name}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
