"""Render and the secrets commands on a hostile or broken checkout (issue 13): names that are
not what they seem, symbolic links, devices, a read-only folder, a full disk, a manifest that
lies, signals, a value typed in the wrong place, an age key added by a pull request. Every case
ends in one located line and exit 2 (or a warning), with the tree left whole and nothing written
outside the project. Real processes, real sops, real age keys; mounts in a private user and mount
namespace where this machine permits one.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import isolate_sops, run_moltgen, snapshot

from moltgen.secrets import sops
from moltgen.secrets.age import keygen
from moltgen.spec.types import check_dns_label
from moltgen.tree import MANIFEST_FILE, STAGING_DIR

KILLER = Path(__file__).with_name("render_killer.py")
SECRET_TEXT = "sk-ant-outside-" + secrets.token_hex(12)  # made per run: a canary, never a committed key


def spec(recipients: list[str] | None = None, *, environments: str = "dev: {}\n  prod: {}",
         memory: str = "1Gi", gitops: bool = False, namespace: str = "bots") -> str:
    sops_part = f"sops: {{ageRecipients: [{', '.join(recipients)}]}}\n" if recipients else ""
    gitops_part = ("gitops: {engine: argocd, repoUrl: 'https://example.com/a/b.git'}\n"
                   if gitops else "")
    return (f"name: bot\nnamespace: {namespace}\nproviders: {{anthropic: {{enabled: true}}}}\n"
            f"resources: {{limits: {{memory: {memory}}}}}\n{sops_part}{gitops_part}"
            f"environments:\n  {environments}\n")


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "moltgen.yaml").write_text(spec())
    return root


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder outside the project, holding a file a link may point at."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "values.yaml").write_text(f"anthropicApiKey: {SECRET_TEXT}\nname: [\n")
    return directory


@pytest.fixture
def age_env(tmp_path, monkeypatch):
    """Real age identities (pyrage); sops here and in every subprocess uses the first and no
    key of the machine's (a fresh HOME, no SOPS_* variable)."""
    isolate_sops(monkeypatch, tmp_path / "home")
    alice = keygen(tmp_path / "keys" / "alice.txt")
    bob = keygen(tmp_path / "keys" / "bob.txt")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    sops.sops_binary.cache_clear()
    return alice, bob


def files(root: Path) -> dict[str, bytes]:
    """Every file of the project but the lock file (render leaves it, by design)."""
    return {path: content for path, content in snapshot(root).items() if path != ".moltgen.lock"}


def one_line(result, *needles: str) -> str:
    assert result.code == 2, (result.stdout, result.stderr)
    [line] = result.stderr.splitlines()
    assert line.startswith("moltgen: ") and "internal error" not in line, line
    for needle in needles:
        assert needle in line, line
    return line


# --- names ----------------------------------------------------------------------------------

def test_a_name_with_a_final_newline_is_not_a_dns_label(project):
    """`$` matches before a final newline: "dev\\n" passed and created overlays/dev\\n."""
    with pytest.raises(ValueError):
        check_dns_label("dev\n")
    for text in ('name: bot\nnamespace: bots\nenvironments:\n  "dev\\n": {}\n',
                 'name: "bot\\n"\nnamespace: bots\nenvironments: {dev: {}}\n',
                 'name: bot\nnamespace: "bots\\n"\nenvironments: {dev: {}}\n',
                 'name: bot\nnamespace: bots\nenvironments: {dev: {}}\ninstances: [{name: "a\\n"}]\n'):
        (project / "moltgen.yaml").write_text(text)
        result = run_moltgen("render", cwd=project)
        assert result.code == 2 and "is not a DNS-1123 label" in result.stderr, result.stderr
        assert not (project / "overlays").exists() and not (project / "base").exists()


# --- symbolic links and devices ---------------------------------------------------------------

@pytest.mark.parametrize("link", ["base", "overlays/dev", "gitops", ".moltgen", ".moltgen/staging"])
def test_nothing_is_written_through_a_symlinked_directory(project, outside, link):
    (project / "moltgen.yaml").write_text(spec(gitops=True))
    (project / link).parent.mkdir(parents=True, exist_ok=True)
    target = outside / "target"
    target.mkdir()
    (project / link).symlink_to(target)
    before = files(project)
    one_line(run_moltgen("render", cwd=project), f"{link}: is a symbolic link; moltgen writes "
                                                 "nothing through a link")
    assert list(target.iterdir()) == []
    assert files(project) == before


def test_a_lock_file_link_does_not_create_its_target(project, outside):
    (project / ".moltgen.lock").symlink_to(outside / "created-by-moltgen")
    one_line(run_moltgen("render", cwd=project), ".moltgen.lock: is a symbolic link")
    assert not (outside / "created-by-moltgen").exists()
    assert not (project / "base").exists()


@pytest.mark.parametrize("kind", ["link-outside", "dev-zero", "fifo"])
def test_the_spec_is_read_only_as_a_bounded_regular_file_in_the_project(project, outside, kind):
    spec_path = project / "moltgen.yaml"
    spec_path.unlink()
    if kind == "link-outside":
        spec_path.symlink_to(outside / "values.yaml")
    elif kind == "dev-zero":
        spec_path.symlink_to("/dev/zero")
    else:
        os.mkfifo(spec_path)
    started = time.monotonic()
    for command in (["render"], ["render", "--check"], ["build", "dev"],
                    ["secrets", "get", "dev", "gatewayToken"]):
        line = one_line(run_moltgen(*command, cwd=project), "moltgen.yaml: ")
        assert ("outside the project" in line) if kind != "fifo" else ("not a regular file" in line)
        assert SECRET_TEXT not in line
    assert time.monotonic() - started < 60  # /dev/zero was read until MemoryError; a FIFO blocks


def test_a_spec_linked_inside_the_project_is_still_read(project):
    (project / "deploy").mkdir()
    (project / "moltgen.yaml").rename(project / "deploy" / "spec.yaml")
    (project / "moltgen.yaml").symlink_to("deploy/spec.yaml")
    assert run_moltgen("render", cwd=project).code == 0


def test_the_repositorys_policy_file_linked_outside_is_refused_without_quoting_it(project, outside):
    (project / "policies").mkdir()
    (project / "policies" / "policy.yaml").symlink_to(outside / "values.yaml")
    (project / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\n")
    line = one_line(run_moltgen("check", "cm.yaml", cwd=project), "policies/policy.yaml",
                    "outside the project")
    assert SECRET_TEXT not in line


# --- only render's own files are removed --------------------------------------------------------

def test_a_manifest_naming_files_outside_the_tree_removes_none_of_them(project):
    assert run_moltgen("render", cwd=project).code == 0
    kept = {"notes.md": b"mine\n", "base/mine.yaml": b"# Generated by moltgen (copied by hand)\n"}
    (project / "notes.md").write_bytes(kept["notes.md"])
    (project / "base/mine.yaml").write_bytes(kept["base/mine.yaml"])
    spec_bytes = (project / "moltgen.yaml").read_bytes()
    lines = "".join(f"{hashlib.sha256(content).hexdigest()}  {path}\n" for path, content in
                    [("moltgen.yaml", spec_bytes), ("../project/notes.md", b"mine\n"),
                     ("base/../notes.md", b"mine\n"), ("/etc/hostname", b"")])
    manifest = project / MANIFEST_FILE
    manifest.write_bytes(manifest.read_bytes() + lines.encode())
    (project / "moltgen.yaml").write_text(spec(environments="dev: {}"))  # prod goes
    result = run_moltgen("render", cwd=project)
    assert result.code == 0, result.stderr
    after = files(project)
    assert {path: after.get(path) for path in kept} == kept
    assert not any(path.startswith("overlays/prod/") for path in after)
    assert "removed  overlays/prod/kustomization.yaml" in result.stdout


def test_an_edited_generated_file_that_is_no_longer_rendered_is_kept_with_a_warning(project):
    assert run_moltgen("render", cwd=project).code == 0
    kustomization = project / "overlays/prod/kustomization.yaml"
    kustomization.write_text("# my own now\nresources: [../../base]\n")
    (project / "moltgen.yaml").write_text(spec(environments="dev: {}"))
    result = run_moltgen("render", cwd=project)
    assert result.code == 0, result.stderr
    assert kustomization.read_text() == "# my own now\nresources: [../../base]\n"
    assert ("warning: overlays/prod/kustomization.yaml: moltgen wrote it but it has been edited "
            "since; not removed") in result.stderr


# --- a read-only folder, a full disk ------------------------------------------------------------

def _namespaces_permitted() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


NAMESPACES = _namespaces_permitted()


def _in_namespace(cwd: Path, script: str) -> subprocess.CompletedProcess[str]:
    """`script` (mounts, then moltgen as $MOLTGEN) in a private user and mount namespace."""
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False,
                          env={**os.environ, "MOLTGEN": f"{sys.executable} -m moltgen"})


@pytest.mark.skipif(not NAMESPACES, reason="no user and mount namespaces here; the simulated "
                                           "full disk below covers the same path")
def test_a_read_only_overlay_fails_the_render_before_base_is_replaced(project):
    assert run_moltgen("render", cwd=project).code == 0
    (project / "moltgen.yaml").write_text(spec(namespace="bots2"))  # base and both overlays change
    before = files(project)
    result = _in_namespace(project, "mount --bind overlays/prod overlays/prod && "
                                    "mount -o remount,bind,ro overlays/prod && exec $MOLTGEN render")
    assert result.returncode == 2, result
    assert result.stderr == "moltgen: overlays/prod: cannot write: Read-only file system\n"
    assert files(project) == before  # base/ untouched, no staging area left


@pytest.mark.skipif(not NAMESPACES, reason="no user and mount namespaces here; the simulated "
                                           "full disk below covers the same path")
def test_a_full_disk_leaves_the_old_tree(project, tmp_path):
    assert run_moltgen("render", cwd=project).code == 0
    (project / "moltgen.yaml").write_text(spec(memory="3Gi", environments="dev: {}\n  prod: {}\n  "
                                               + "\n  ".join(f"e{i}: {{}}" for i in range(40))))
    before = files(project)
    # The project on a 1 MiB tmpfs, filled but for 40 KiB; the tree after the render is copied
    # out (the mount ends with the namespace).
    result = _in_namespace(tmp_path, f"""mkdir small && mount -t tmpfs -o size=1m tmpfs small &&
        cp -a project/. small/ && (dd if=/dev/zero of=small/fill bs=1k count=100000 2>/dev/null; true) &&
        rm small/fill && dd if=/dev/zero of=small/fill bs=1k count=$(( $(stat -f -c '%a*%S/1024' small) - 40 )) 2>/dev/null;
        cd small && $MOLTGEN render; echo "rc=$?" >&2; rm -f fill; tar -cf {tmp_path}/after.tar .""")
    assert "rc=2" in result.stderr, result.stderr
    # (progress lines aside: stderr is not a terminal here)
    lines = [l for l in result.stderr.splitlines() if not l.startswith(("rc=", "moltgen: writing files"))]
    assert lines == [f"moltgen: {STAGING_DIR}/files: cannot write: No space left on device"], lines
    (tmp_path / "after").mkdir()
    subprocess.run(["tar", "-xf", str(tmp_path / "after.tar"), "-C", str(tmp_path / "after")],
                   check=True)
    assert files(tmp_path / "after") == before


def test_a_simulated_full_disk_while_staging_leaves_the_old_tree(project):
    """ENOSPC on the 5th file staged (every machine: no mount needed)."""
    assert run_moltgen("render", cwd=project).code == 0
    (project / "moltgen.yaml").write_text(spec(namespace="bots2"))  # 10 files change
    before = files(project)
    script = ("import builtins, errno, os, sys, threading\n"
              "real_open, count, lock = builtins.open, [0], threading.Lock()\n"
              "def full_open(file, mode='r', *a, **k):\n"
              "    if 'w' in mode and '/staging/files/' in os.fspath(file):\n"
              "        with lock:\n"
              "            count[0] += 1\n"
              "            if count[0] >= 5:\n"
              "                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), file)\n"
              "    return real_open(file, mode, *a, **k)\n"
              "builtins.open = full_open\n"
              "from moltgen.cli import main\n"
              "sys.argv = ['moltgen', 'render']\n"
              "main()\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 2, result
    assert result.stderr == f"moltgen: {STAGING_DIR}/files: cannot write: No space left on device\n"
    assert files(project) == before


# --- secrets hygiene -----------------------------------------------------------------------------

def _sops_spy(tmp_path: Path, delay: float = 0.0) -> tuple[Path, Path]:
    """A stand-in for the sops binary that records how it was started (limits, working
    directory, environment names) and then runs the real sops in its place."""
    log = tmp_path / "sops-spy.jsonl"
    spy = tmp_path / "sops-spy"
    spy.write_text(f"""#!{sys.executable}
import json, os, resource, sys, time
with open({str(log)!r}, "a") as handle:
    handle.write(json.dumps({{"core": resource.getrlimit(resource.RLIMIT_CORE)[0], "cwd": os.getcwd(),
                             "env": sorted(os.environ), "pid": os.getpid()}}) + "\\n")
time.sleep({delay})
os.execv({sops.sops_binary()!r}, [{sops.sops_binary()!r}, *sys.argv[1:]])
""")
    spy.chmod(0o755)
    return spy, log


def test_sops_runs_in_a_private_folder_with_a_minimal_environment_and_no_core_dumps(
        project, age_env, tmp_path):
    alice, _ = age_env
    (project / "moltgen.yaml").write_text(spec([alice.recipient]))
    assert run_moltgen("render", cwd=project).code == 0
    spy, log = _sops_spy(tmp_path)
    result = run_moltgen("secrets", "set", "dev", "anthropicApiKey", "--from-env", "NEW_VALUE",
                         cwd=project, env={"MOLTGEN_SOPS": str(spy), "NEW_VALUE": SECRET_TEXT,
                                           "GITHUB_TOKEN": "ghp-not-for-sops"})
    assert result.code == 0, result.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls
    for call in calls:
        assert call["core"] == 0
        assert Path(call["cwd"]).parent == project / STAGING_DIR
        assert Path(call["cwd"]).name.startswith("sops-")
        assert "NEW_VALUE" not in call["env"] and "GITHUB_TOKEN" not in call["env"]
        assert "SOPS_AGE_KEY_FILE" in call["env"]
    assert not (project / STAGING_DIR).exists()
    get = run_moltgen("secrets", "get", "dev", "anthropicApiKey", cwd=project)
    assert get.stdout == SECRET_TEXT + "\n"


def test_sigterm_during_set_kills_sops_and_leaves_no_folder(project, age_env, tmp_path):
    alice, _ = age_env
    (project / "moltgen.yaml").write_text(spec([alice.recipient]))
    assert run_moltgen("render", cwd=project).code == 0
    before = files(project)
    spy, log = _sops_spy(tmp_path, delay=30)  # sops is surely running when SIGTERM comes
    process = subprocess.Popen([sys.executable, "-m", "moltgen", "secrets", "set", "dev",
                                "anthropicApiKey"], cwd=project, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "MOLTGEN_SOPS": str(spy)})
    process.stdin.write(b"sk-not-stored\n")
    process.stdin.close()
    process.stdin = None  # communicate() below must not flush it
    deadline = time.monotonic() + 60
    while not log.exists() or not log.read_text():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    sops_pid = json.loads(log.read_text().splitlines()[0])["pid"]
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130 and b"Traceback" not in stderr, stderr  # like Ctrl-C
    time.sleep(0.2)
    assert not Path(f"/proc/{sops_pid}").exists() or \
        Path(f"/proc/{sops_pid}/stat").read_text().split()[2] == "Z", "sops left running"
    assert files(project) == before  # no staging area, no scratch folder, nothing changed


def test_stdin_must_be_utf8(project, age_env):
    alice, _ = age_env
    (project / "moltgen.yaml").write_text(spec([alice.recipient]))
    assert run_moltgen("render", cwd=project).code == 0
    before = files(project)
    result = subprocess.run([sys.executable, "-m", "moltgen", "secrets", "set", "dev",
                             "anthropicApiKey"], cwd=project, input=b"sk-\xff\xfe-latin1",
                            capture_output=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == b"moltgen: stdin: the value is not UTF-8 text (byte 3); refused\n"
    assert files(project) == before


@pytest.mark.parametrize("typed", [
    ["set", "dev", SECRET_TEXT],  # the value where the key goes
    ["set", SECRET_TEXT, "anthropicApiKey"],  # ... where the environment goes
    ["get", "dev", "gatewayToken", "--instance", SECRET_TEXT],
    ["set", "dev", "anthropicApiKey", f"--{SECRET_TEXT}"],  # ... as an option
    ["set", "dev", "anthropicApiKey", "--from-env", SECRET_TEXT],  # a variable name
    ["set", "dev", "anthropicApiKey", "--from-file", SECRET_TEXT],
    ["rotate", "dev", "gatewayToken", SECRET_TEXT],  # an extra argument
    [SECRET_TEXT],  # ... as the command
    [f"--{SECRET_TEXT}", "set"],
])
def test_no_typed_argument_is_ever_repeated_in_an_error(project, age_env, typed):
    alice, _ = age_env
    (project / "moltgen.yaml").write_text(spec([alice.recipient]))
    result = run_moltgen("secrets", *typed, cwd=project, stdin="")
    assert result.code == 2, result
    assert SECRET_TEXT not in result.stdout + result.stderr
    assert SECRET_TEXT[:12] not in result.stdout + result.stderr


def test_a_recipient_added_by_a_pull_request_needs_updatekeys_and_a_removed_one_is_rotated(
        project, age_env):
    alice, bob = age_env
    (project / "moltgen.yaml").write_text(spec([alice.recipient]))
    assert run_moltgen("render", cwd=project).code == 0
    secret = "overlays/dev/secret.enc.yaml"
    before = files(project)

    (project / "moltgen.yaml").write_text(spec([alice.recipient, bob.recipient]))  # the PR
    check = run_moltgen("render", "--check", cwd=project)
    assert check.code == 1 and "run `moltgen secrets updatekeys`" in check.stdout
    refused = run_moltgen("render", cwd=project)
    assert refused.code == 2
    assert refused.stderr.splitlines()[0] == (
        f"moltgen: {secret}: the spec's age recipients differ from the file's (adds "
        f"{bob.recipient}); re-encrypting a Secret to other keys is an explicit step: review the "
        "change, then run `moltgen secrets updatekeys` (it needs a private key that decrypts "
        "the file)")
    assert files(project) == {**before, "moltgen.yaml": (project / "moltgen.yaml").read_bytes()}

    assert run_moltgen("secrets", "updatekeys", cwd=project).code == 0
    assert run_moltgen("render", "--check", cwd=project).code == 0
    (project / "moltgen.yaml").write_text(spec([bob.recipient]))  # alice leaves
    result = run_moltgen("secrets", "updatekeys", cwd=project)
    assert result.code == 0, result.stderr
    assert (f"warning: {secret}: {alice.recipient} can still decrypt every value it could read "
            "(gatewayToken) from the commits before this one: rotate them: `moltgen secrets "
            "rotate dev gatewayToken`") in result.stderr
    assert run_moltgen("render", "--check", cwd=project).code == 0
