"""Every failure is located: no `internal error` for anything a file can hold, nor for an OS
error. Damaged sops metadata in a Secret, policy parameters CEL cannot hold, a read-only
folder and a full disk each end as one line naming the file (and line, and field, where there
is one) with exit 2, or as findings.

Read-only folders and full disks are real where the kernel lets us: each command runs in its
own user and mount namespace (`unshare -rm`) with a small or read-only tmpfs; nothing is
mounted on the host. Where namespaces are not permitted, the simulated ENOSPC test still runs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO, namespaces_permitted, run_moltgen

# -- Secret sops metadata ------------------------------------------------------------------------

BAD_SOPS = ["{age: 1}", "{age: true}", "{age: .nan}", "true", ".nan", "[1]", "{age: [1]}",
            "{age: [{recipient: [1]}]}", "{age: {recipient: x}}", "{lastmodified: {a: 1}}",
            "{encrypted_regex: [x], mac: 1}", "{pgp: .nan, kms: {a: 1}}"]
CIPHERTEXT = "ENC[AES256_GCM,data:eA==,iv:eA==,tag:eA==,type:str]"


@pytest.mark.parametrize("sops", BAD_SOPS)
def test_check_judges_a_secret_with_damaged_sops_metadata(tmp_path, sops):
    (tmp_path / "s.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\n"
        f"stringData: {{a: \"{CIPHERTEXT}\"}}\nsops: {sops}\n")
    result = run_moltgen("check", "s.yaml", cwd=tmp_path)
    assert result.code in (0, 1), result
    assert "internal error" not in result.stderr


@pytest.fixture(scope="module")
def committed_tree(tmp_path_factory) -> Path:
    """This repository's spec and committed tree (its Secrets encrypted, no key here)."""
    root = tmp_path_factory.mktemp("tree")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True,
                             timeout=60).stdout.decode().split("\0")
    for name in filter(None, tracked):  # every generated file, whatever render produces now
        if (REPO / name).is_file() and not name.startswith(("tests/", "bench/", "moltgen/")):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / name, root / name)
    assert run_moltgen("render", "--check", cwd=root).code == 0
    return root


@pytest.mark.parametrize("damage, field", [
    ("    age: 1\n", "sops.age"), ("    age: .nan\n", "sops.age"),
    ("    age: [1]\n", "sops.age.0"), ("    lastmodified: {a: 1}\n", "sops.lastmodified"),
])
def test_render_and_render_check_name_the_damaged_sops_field(committed_tree, tmp_path, damage, field):
    root = tmp_path / "tree"
    shutil.copytree(committed_tree, root)
    secret = root / "overlays" / "dev" / "secret.enc.yaml"
    lines = secret.read_text().splitlines(keepends=True)
    start = lines.index("sops:\n")
    key = damage.split(":")[0] + ":"
    end = next(i for i in range(start + 2, len(lines)) if lines[i].startswith("    ") and not lines[i].startswith("     "))
    at = start + 1 if key == "    age:" else next(i for i, line in enumerate(lines) if line.startswith(key))
    if key == "    age:":
        lines[start + 1:end] = [damage]  # the whole age list replaced
    else:
        lines[at] = damage
    secret.write_text("".join(lines))
    line = lines.index(damage) + 1
    for command in (("render", "--check"), ("render",)):
        result = run_moltgen(*command, cwd=root)
        assert result.code == 2, result
        assert result.stderr.startswith(f"moltgen: overlays/dev/secret.enc.yaml:{line}:"), result.stderr
        assert f": {field}: " in result.stderr
        assert "internal error" not in result.stderr


# -- policy parameters ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, says", [
    (".nan", "must be a finite number"), ("-.inf", "must be a finite number"),
    ('"1\\n2"', "must be an integer"), ("99999999999999999999", "64-bit integer range"),
    ("[1]", "must be an integer"), ("{a: [1, {b: .nan}]}", "must be a finite number"),
    ("1.5", "must be an integer"), ("~", "must be an integer"),
])
def test_policy_params_cel_cannot_hold_are_located(tmp_path, value, says):
    (tmp_path / "c.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\n")
    (tmp_path / "p.yaml").write_text(f"rules:\n  secret-rotation-age:\n    params:\n      maxAgeDays: {value}\n")
    result = run_moltgen("check", "c.yaml", "--policy", "p.yaml", cwd=tmp_path)
    assert result.code == 2, result
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("moltgen: p.yaml:4:"), result.stderr
    assert "rules.secret-rotation-age.params.maxAgeDays" in result.stderr and says in result.stderr


def test_string_params_with_quotes_newlines_and_escapes_reach_the_rule_intact(tmp_path):
    """A parameter becomes a CEL literal; a newline, a quote or an ESC must not break it."""
    import datetime as dt

    from moltgen.check import celenv
    from moltgen.check.vap import cel_literal

    now = dt.datetime.now(dt.UTC)
    for text in ["1\n2", "it's", "back\\slash", "\x1b[31m", "\u2028", "\x00", "'; true || '"]:
        assert celenv.compile_expression(cel_literal(text)).run(celenv.activation({}, now=now)) == text


@pytest.mark.parametrize("policy", ["rules: [a]\n", "waivers: {a: 1}\n", "customRules: rules\n",
                                    "rules:\n  x: {severity: [1]}\n", "rules:\n  x: {enabled: 'no'}\n",
                                    "rules:\n  x: {params: [1]}\n"])
def test_policy_files_of_the_wrong_shape_are_located(tmp_path, policy):
    (tmp_path / "c.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\n")
    (tmp_path / "p.yaml").write_text(policy)
    result = run_moltgen("check", "c.yaml", "--policy", "p.yaml", cwd=tmp_path)
    assert result.code == 2, result
    assert all(line.startswith("moltgen: p.yaml:") for line in result.stderr.splitlines()), result.stderr


# -- OS errors -----------------------------------------------------------------------------------

needs_namespaces = pytest.mark.skipif(not namespaces_permitted(),
                                      reason="user and mount namespaces are not permitted here; "
                                             "test_a_simulated_full_disk covers the mapping")


def _in_namespace(cwd: Path, setup: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`setup` (mounts) then `python -m moltgen ARGS`, in a private mount namespace."""
    command = " ".join(["exec", sys.executable, "-m", "moltgen", *args])
    return subprocess.run(["unshare", "-rm", "sh", "-c", f"{setup} && {command}"], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


@needs_namespaces
def test_a_read_only_folder_is_named_with_its_errno_text(tmp_path):
    (tmp_path / "moltgen.yaml").write_text("name: a\nnamespace: b\nenvironments: {dev: {}}\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "c.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\n")
    result = _in_namespace(tmp_path, "mount -t tmpfs -o ro tmpfs out", "check", "c.yaml", "-o", "out/r.json")
    assert result.returncode == 2, result
    assert result.stderr == "moltgen: out/r.json: cannot write: Read-only file system\n"
    (tmp_path / "overlays").mkdir()
    result = _in_namespace(tmp_path, "mount -t tmpfs -o ro tmpfs overlays", "render")
    assert result.returncode == 2, result
    assert "Read-only file system" in result.stderr and "overlays" in result.stderr, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


@needs_namespaces
def test_a_full_disk_is_named_with_its_errno_text(tmp_path):
    (tmp_path / "c.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\n")
    (tmp_path / "full").mkdir()
    fill = "mount -t tmpfs -o size=4k tmpfs full && (dd if=/dev/zero of=full/fill bs=1k count=64 2>/dev/null || true)"
    result = _in_namespace(tmp_path, fill, "check", "c.yaml", "--format", "json", "-o", "full/r.json")
    assert result.returncode == 2, result
    assert result.stderr == "moltgen: full/r.json: cannot write: No space left on device\n"
    result = _in_namespace(tmp_path, fill, "schema", "-o", "full/schema.json")
    assert result.returncode == 2, result
    assert "No space left on device" in result.stderr and "full/" in result.stderr, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_a_simulated_full_disk_anywhere_is_named_not_an_internal_error(tmp_path):
    """Any OSError that escapes a command (here: every os.replace fails with ENOSPC) is one
    line with the file and the errno text, exit 2."""
    (tmp_path / "moltgen.yaml").write_text("name: a\nnamespace: b\nenvironments: {dev: {}}\n")
    script = ("import errno, os, sys\n"
              "def full(src, dst, *a, **k):\n"
              "    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), src)\n"
              "os.replace = os.rename = full\n"
              "from moltgen.cli import main\n"
              "sys.argv = ['moltgen', 'schema', '-o', 'schema.json']\n"
              "main()\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 2, result
    assert result.stderr.startswith("moltgen: ") and "No space left on device" in result.stderr
    assert "schema.json" in result.stderr and "internal error" not in result.stderr
