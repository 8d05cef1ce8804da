"""One canary secret value for the whole test session, followed through every command a user
runs, as real processes with real age keys and the real sops: it must appear nowhere in plain
text (nor base64-encoded) except where it was asked for, the stdout of `moltgen secrets get`.

tests/secrets/test_secret_canary.py covers `secrets set` and `rotate` in-process (the argv and
stdin of each sops call, the edit copies in TMPDIR) with the rest of the pipeline stubbed out.
This module runs the whole command line end to end instead: render, render --check, build,
diff, check in every report format, set/get/rotate/updatekeys, failing sops calls (a wrong key,
a tampered file), a plaintext Secret given to `check`; then it scans every file of the project,
TMPDIR, HOME, the reports, the argv of every sops process, and every command's output. The last
tests take the in-process failure paths and check the messages of the errors they raise.
"""

from __future__ import annotations

import base64
import gc
import os
import re
import secrets as random_tokens
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from support import MINIMAL_SPEC

from moltgen import cli, pipeline
from moltgen.core.errors import MoltgenError
from moltgen.project import load_project
from moltgen.secrets import reconcile, sops, store
from moltgen.secrets.age import keygen

DEV = "overlays/dev/secret.enc.yaml"
PROD = "overlays/prod/secret.enc.yaml"
FORMATS = {"text": "txt", "json": "json", "sarif": "sarif", "github": "log", "junit": "xml",
           "markdown": "md"}
SOPS_VARIABLES = ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD",
                  "SOPS_AGE_SSH_PRIVATE_KEY_FILE", "SOPS_AGE_RECIPIENTS", "SOPS_CONFIG",
                  "MOLTGEN_SOPS", "MOLTGEN_DEBUG")


@pytest.fixture(scope="session")
def canary() -> str:
    return f"canary-{random_tokens.token_hex(16)}"


def needles(value: str) -> list[bytes]:
    """The value as it could leak: as is, and base64-encoded (a Secret's `data:` form)."""
    return [value.encode(), base64.b64encode(value.encode())]


def with_value(document: bytes, key: str, value: str) -> bytes:
    """`document` (a Secret) with the value of `key` under stringData replaced as text."""
    pattern = re.compile(rb"^(    " + key.encode() + rb": ).*$", re.MULTILINE)
    assert pattern.search(document)
    return pattern.sub(lambda match: match.group(1) + value.encode(), document, count=1)


def files_containing(value: str, root: Path) -> list[str]:
    return sorted(str(path) for path in root.rglob("*")
                  if path.is_file() and any(n in path.read_bytes() for n in needles(value)))


def spec_text(dev: list[str], prod: list[str], *, telegram: bool = False) -> str:
    return f"""\
name: clawdbot
namespace: extension-clawdbot
image: {{tag: "2026.8.1"}}
providers:
  anthropic: {{enabled: true}}
  openai: {{enabled: true}}
channels:
  discord: {{enabled: true}}
  telegram: {{enabled: {str(telegram).lower()}}}
ingress: {{enabled: true, host: bot.example.com, className: nginx, tls: {{secretName: bot-tls}}}}
environments:
  dev:
    namespace: clawdbot-dev
    sops: {{ageRecipients: [{", ".join(dev)}]}}
  prod:
    sops: {{ageRecipients: [{", ".join(prod)}]}}
"""


def plaintext_secrets(value: str) -> str:
    """Secrets committed in plain text, some malformed (schema errors quote values elsewhere)."""
    encoded = base64.b64encode(value.encode()).decode()
    return f"""\
apiVersion: v1
kind: Secret
metadata: {{name: leaked, namespace: team}}
data: {{anthropicApiKey: {encoded}, notBase64: {value}}}
stringData: {{gatewayToken: {value}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: malformed, namespace: team}}
stringData: {value}
---
apiVersion: v1
kind: Secret
metadata: {{name: nested, namespace: team}}
stringData: {{gatewayToken: {{value: {value}}}}}
data: {{number: 12345, token: [{value}]}}
"""


@dataclass
class Session:
    """What one pass through every command left behind."""

    base: Path  # everything the session wrote lives under here
    root: Path  # the project
    inputs: Path  # files that hold the canary on purpose (a --from-file value, a leaked Secret)
    reports: Path
    scratch: Path  # TMPDIR of every process
    argv_log: Path  # the arguments of every sops process, one line each
    env: dict[str, str]
    runs: list[tuple[tuple[str, ...], subprocess.CompletedProcess]] = field(default_factory=list)
    allowed_stdout: list[subprocess.CompletedProcess] = field(default_factory=list)  # gets

    def run(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None, expect: int | None = 0) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "moltgen", *args], cwd=cwd or self.root,
                                input=stdin, capture_output=True, text=True,
                                env={**self.env, **(env or {})}, timeout=300, check=False)
        self.runs.append((args, result))
        assert "Traceback" not in result.stderr, result.stderr
        if expect is not None:
            assert result.returncode == expect, (args, result.stdout, result.stderr)
        return result


@pytest.fixture(scope="module")
def session(canary, tmp_path_factory) -> Session:
    base = tmp_path_factory.mktemp("leaks")
    root, inputs, reports, scratch, home, keys = (base / name for name in (
        "project", "inputs", "reports", "tmp", "home", "keys"))
    for directory in (root, inputs, reports, scratch, home, keys):
        directory.mkdir()
    argv_log = base / "sops-argv.log"
    # Every sops process moltgen starts goes through this wrapper, which logs its arguments.
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MOLTGEN_SOPS", raising=False)
        sops.sops_binary.cache_clear()
        real_sops = sops.sops_binary()
    sops.sops_binary.cache_clear()
    wrapper = base / "sops-wrapper"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{argv_log}"\nexec "{real_sops}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)

    env = {key: value for key, value in os.environ.items() if key not in SOPS_VARIABLES}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), TMPDIR=str(scratch),
               SOPS_AGE_KEY_FILE=str(keys / "team.txt"), MOLTGEN_SOPS=str(wrapper), NO_COLOR="1")
    s = Session(base, root, inputs, reports, scratch, argv_log, env)

    # Keys: the team's (two identities in one key file), and an outsider's.
    team = s.run("secrets", "keygen", "--key-file", str(keys / "team.txt")).stdout.strip()
    newcomer = s.run("secrets", "keygen", "--key-file", str(keys / "team.txt")).stdout.strip()
    s.run("secrets", "keygen", "--key-file", str(keys / "outsider.txt"))
    wrong_key = {"SOPS_AGE_KEY_FILE": str(keys / "outsider.txt")}
    (root / "moltgen.yaml").write_text(spec_text([team], [team]))

    s.run("render")
    # The canary goes in three ways, never on the command line.
    s.run("secrets", "set", "dev", "anthropicApiKey", stdin=canary + "\n")
    s.run("secrets", "set", "prod", "openaiApiKey", "--from-env", "CANARY_VALUE",
          env={"CANARY_VALUE": canary})
    (inputs / "value.txt").write_text(canary + "\n")
    s.run("secrets", "set", "prod", "discordBotToken", "--from-file", str(inputs / "value.txt"))
    # A value given as an argument is refused without echoing it.
    s.run("secrets", "set", "dev", "discordBotToken", canary, expect=2)

    s.run("render")
    s.run("render", "--check")
    for env_name in ("dev", "prod"):
        s.run("build", env_name)
    s.run("diff", "dev", "prod", expect=1)  # they differ
    s.run("check", expect=None)
    for fmt, extension in FORMATS.items():
        s.run("check", "--format", fmt, "--output", str(reports / f"tree.{extension}"), expect=None)
    s.run("check", "overlays/prod", "--format", "json", expect=None)

    for env_name, key in (("dev", "anthropicApiKey"), ("prod", "openaiApiKey"),
                          ("prod", "discordBotToken")):
        got = s.run("secrets", "get", env_name, key)
        assert got.stdout == canary + "\n"  # the one place the value belongs
        s.allowed_stdout.append(got)

    s.run("secrets", "rotate", "dev", "gatewayToken")
    s.run("secrets", "rotate", "prod", "gatewayToken")
    (root / "moltgen.yaml").write_text(spec_text([team, newcomer], [team]))
    s.run("secrets", "updatekeys")  # a new data key for dev: every value re-encrypted
    (root / "moltgen.yaml").write_text(spec_text([team, newcomer], [team], telegram=True))
    s.run("render")  # a key added to both Secrets (sops set, with the private key)
    s.run("render", "--check")

    # Failing sops calls, each a one-line error: no key that can decrypt...
    failures = [
        s.run("secrets", "get", "dev", "anthropicApiKey", env=wrong_key, expect=2),
        s.run("secrets", "set", "prod", "anthropicApiKey", stdin=canary, env=wrong_key, expect=2),
        s.run("secrets", "rotate", "dev", "gatewayToken", env=wrong_key, expect=2),
    ]
    (root / "moltgen.yaml").write_text(spec_text([team, newcomer], [team]))  # telegram off
    failures.append(s.run("render", env=wrong_key, expect=2))
    # ...and a tampered file (a copy of the project with two ciphertexts swapped).
    tampered = base / "tampered"
    subprocess.run(["cp", "-a", str(root), str(tampered)], check=True)
    lines = (tampered / DEV).read_text().splitlines(keepends=True)
    start = lines.index("stringData:\n") + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith(" "))
    first, second = [i for i in range(start, end) if "ENC[" in lines[i]][:2]
    key_a, _, value_a = lines[first].partition(": ")
    key_b, _, value_b = lines[second].partition(": ")
    lines[first], lines[second] = f"{key_a}: {value_b}", f"{key_b}: {value_a}"
    (tampered / DEV).write_text("".join(lines))
    failures.append(s.run("secrets", "get", "dev", "anthropicApiKey", cwd=tampered, expect=2))
    failures.append(s.run("render", cwd=tampered, expect=2))  # removing telegram needs sops
    # ...and a value that is not sops ciphertext, which sops quotes in its error message.
    quoted = inputs / "quoted"
    subprocess.run(["cp", "-a", str(root), str(quoted)], check=True)
    (quoted / DEV).write_bytes(with_value((root / DEV).read_bytes(), "anthropicApiKey",
                                          f"ENC[{canary}]"))
    failures.append(s.run("secrets", "get", "dev", "anthropicApiKey", cwd=quoted, expect=2))
    for failure in failures:
        for line in failure.stderr.splitlines():  # one line per problem, naming the file
            assert line.startswith("moltgen: ") and "secret.enc.yaml" in line, line
    s.run("render")  # back in line with the spec (telegram off again)
    s.run("render", "--check")

    # A Secret committed in plain text, given to check directly and on stdin, in every format.
    (inputs / "leaked.yaml").write_text(plaintext_secrets(canary))
    for fmt, extension in FORMATS.items():
        result = s.run("check", str(inputs / "leaked.yaml"), "--format", fmt, "--output",
                       str(reports / f"leaked.{extension}"), expect=1)
        assert result.stdout == ""
    s.run("check", "-", "--format", "sarif", stdin=plaintext_secrets(canary), expect=1)
    return s


def planted(session: Session) -> list[str]:
    """The files that hold the canary on purpose: inputs, not anything moltgen wrote."""
    return sorted(str(session.inputs / name) for name in (
        "leaked.yaml", "value.txt", f"quoted/{DEV}"))


def test_the_canary_went_in_and_comes_out_only_where_asked(session, canary):
    """Positive controls: the values are really there (so the scans below could find them),
    and the commands ran through the logging sops wrapper."""
    project = load_project(session.root / "moltgen.yaml")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in session.env.items():
            patch.setenv(key, value)
        sops.sops_binary.cache_clear()
        assert store.get_secret(project, "dev", "anthropicApiKey") == canary
        assert store.get_secret(project, "prod", "openaiApiKey") == canary
        assert store.get_secret(project, "prod", "discordBotToken") == canary
    sops.sops_binary.cache_clear()
    assert files_containing(canary, session.inputs) == planted(session)
    gets = session.allowed_stdout
    assert len(gets) == 3 and all(canary in result.stdout for result in gets)
    log = session.argv_log.read_text()
    for operation in ("encrypt", "set --value-stdin", "rotate", "decrypt"):
        assert f" {operation} " in f" {log}", operation


def test_the_canary_is_in_no_output_of_any_command(session, canary):
    assert len(session.runs) > 35
    for args, result in session.runs:
        stdout = "" if any(result is get for get in session.allowed_stdout) else result.stdout
        for text, stream in ((stdout, "stdout"), (result.stderr, "stderr")):
            for needle in needles(canary):
                assert needle.decode() not in text, f"moltgen {' '.join(args)}: {stream}"


def test_the_canary_is_in_no_file_the_session_left(session, canary):
    """Not in the project (the committed tree: ciphertext only), TMPDIR, HOME, the reports, the
    tampered copy, nor in the arguments of any sops process."""
    assert files_containing(canary, session.base) == planted(session)
    assert canary not in session.argv_log.read_text()
    # What is committed holds ciphertext: each value of each Secret is sops ciphertext, or
    # empty (not set yet: sops leaves "" as it is).
    for file in (DEV, PROD):
        values = yaml.safe_load((session.root / file).read_text())["stringData"]
        assert values["anthropicApiKey" if file == DEV else "openaiApiKey"].startswith("ENC[")
        assert all(v == "" or v.startswith("ENC[AES256_GCM,data:") for v in values.values()), file
    assert list(session.scratch.iterdir()) == []  # no sops edit copy left behind either


def test_no_report_names_the_canary(session, canary):
    reports = sorted(session.reports.iterdir())
    assert len(reports) == 2 * len(FORMATS)
    for report in reports:
        text = report.read_text()
        assert text.strip(), report.name
        for needle in needles(canary):
            assert needle.decode() not in text, report.name
    # The plaintext Secret was found, by key name.
    leaked = (session.reports / "leaked.txt").read_text()
    assert "secret-not-encrypted" in leaked and "gatewayToken" in leaked


# --- in-process failure paths: what the raised errors say ----------------------------------------

@pytest.fixture
def keyed(session, monkeypatch):
    """This process uses the session's sops environment (its key file, TMPDIR, wrapper)."""
    for key in SOPS_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    for key, value in session.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(tempfile, "tempdir", None)  # tempfile reads TMPDIR again
    sops.sops_binary.cache_clear()
    yield session
    sops.sops_binary.cache_clear()


def assert_silent(error: BaseException, canary: str) -> None:
    texts = [str(error), repr(error), *(str(p) for p in getattr(error, "problems", []))]
    for text in texts:
        for needle in needles(canary):
            assert needle.decode() not in text, text
    assert error.__cause__ is None or canary not in str(error.__cause__)


def test_errors_raised_on_the_way_never_carry_the_value(keyed, canary, monkeypatch, tmp_path):
    session = keyed
    ciphertext = (session.root / DEV).read_bytes()
    raised: list[MoltgenError] = []

    def expect_error(call, *args, **kwargs) -> None:
        with pytest.raises(MoltgenError) as caught:
            call(*args, **kwargs)
        raised.append(caught.value)

    # sops fails with the value in its input: YAML it cannot parse, an invalid recipient, a
    # document that is not encrypted, one that already is.
    expect_error(sops.encrypt, f"stringData: {{token: {canary}\n".encode(), file=DEV,
                 recipients=[project_recipient(session)])
    expect_error(sops.encrypt, f"stringData: {{token: {canary}}}\n".encode(), file=DEV,
                 recipients=["age1notarecipient"])
    expect_error(sops.decrypt, f"stringData: {{token: {canary}}}\n".encode(), file=DEV)
    expect_error(sops.encrypt, ciphertext.replace(b"stringData:", f"note: {canary}\nstringData:".encode(), 1),
                 file=DEV, recipients=[project_recipient(session)])
    # A value that is not sops ciphertext: sops's own message quotes it ("Input string ENC[...]
    # does not match sops' data format").
    quoted = with_value(ciphertext, "anthropicApiKey", f"ENC[{canary}]")
    direct = subprocess.run([sops.sops_binary(), "--config", os.devnull, "decrypt", "--input-type",
                             "yaml", "--output-type", "yaml", "/dev/stdin"], input=quoted,
                            capture_output=True, check=False)
    assert direct.returncode != 0 and canary.encode() in direct.stderr  # what moltgen must hide
    expect_error(sops.decrypt, quoted, file=DEV)
    expect_error(sops.extract, quoted, ["stringData", "anthropicApiKey"], file=DEV)
    # A result that is not fully encrypted is refused before it is written.
    plaintext = f"apiVersion: v1\nkind: Secret\nstringData: {{token: {canary}}}\n".encode()
    expect_error(reconcile.checked, plaintext, DEV)
    # No key that can decrypt, while setting the value (it travels on stdin).
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(tmp_path / "none.txt"))
    keygen(tmp_path / "none.txt")
    expect_error(sops.set_value, ciphertext, ["stringData", "anthropicApiKey"], canary, file=DEV)
    project = load_project(session.root / "moltgen.yaml")
    expect_error(store.set_secret, project, "dev", "anthropicApiKey", canary)
    expect_error(store.get_secret, project, "dev", "anthropicApiKey")
    # A Secret that holds the value in plain text, where moltgen expects an encrypted one.
    copy = tmp_path / "plain"
    subprocess.run(["cp", "-a", str(session.root), str(copy)], check=True)
    (copy / DEV).write_bytes(b"# Generated by moltgen\n" + plaintext)
    plain_project = load_project(copy / "moltgen.yaml")
    expect_error(store.get_secret, plain_project, "dev", "anthropicApiKey")
    expect_error(store.set_secret, plain_project, "dev", "anthropicApiKey", canary)
    expect_error(pipeline.render, plain_project)

    assert len(raised) == 13
    for error in raised:
        assert_silent(error, canary)
    assert any(isinstance(error, sops.SopsError) for error in raised)
    assert files_containing(canary, session.scratch) == [] == list(session.scratch.iterdir())


def project_recipient(session: Session) -> str:
    spec = yaml.safe_load((session.root / "moltgen.yaml").read_text())
    return spec["environments"]["prod"]["sops"]["ageRecipients"][0]


def test_an_unexpected_error_carrying_the_value_prints_only_its_type(canary, monkeypatch, capsys,
                                                                     tmp_path):
    """The CLI's last line of defence: an exception it does not know is reported by type."""
    def explode(*args, **kwargs):
        raise RuntimeError(f"unexpected, holding {canary}")
    (tmp_path / "moltgen.yaml").write_text(MINIMAL_SPEC)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pipeline, "render", explode)
    monkeypatch.delenv("MOLTGEN_DEBUG", raising=False)
    monkeypatch.setattr(sys, "argv", ["moltgen", "render"])
    try:
        with pytest.raises(SystemExit) as exited:
            cli.main()
    finally:
        gc.enable()  # main() turns the cycle collector off for its short-lived process
    assert exited.value.code == 2
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert line.startswith("moltgen: internal error (RuntimeError)"), line
    assert canary not in captured.out + captured.err
