"""The generated openclaw.json is judged by OpenClaw's own schema when the spec loads, and
what is rendered for channels is what the real gateway needs to start them."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from moltgen.core.errors import MoltgenError
from moltgen.project import load_project
from moltgen.render.openclaw import render_openclaw_config

SPEC = """\
name: clawdbot
namespace: clawdbot
image: {tag: TAG}
config:
  gateway:
    controlUi: {enabled: true}
environments:
  dev:
    config:
      channels:
        telegram: {enabled: true}
  prod: {}
instances:
  - name: alice
    overrides:
      config:
        gateway: {prot: 1}
"""


def write(tmp_path, text):
    path = tmp_path / "moltgen.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_typo_in_an_instance_override_names_its_line_and_suggests(tmp_path):
    path = write(tmp_path, SPEC.replace("TAG", "2026.7.1-2-slim"))
    with pytest.raises(MoltgenError) as caught:
        load_project(path)
    assert [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems] == [
        "moltgen.yaml:17:19: instances.0.overrides.config.gateway.prot: unknown field 'prot' "
        "(did you mean 'port'?) (openclaw.json of OpenClaw 2026.7.1-2)"]


def test_a_wrong_type_in_an_environment_is_reported_there(tmp_path):
    text = SPEC.replace("TAG", "2026.9.6").replace("telegram: {enabled: true}",
                                                   "telegram: {enabled: 'yes'}")
    text = text.split("instances:")[0]
    with pytest.raises(MoltgenError) as caught:
        load_project(write(tmp_path, text))
    (problem,) = caught.value.problems
    assert problem.field == "environments.dev.config.channels.telegram.enabled"
    assert (problem.location.line, problem.location.column) == (11, 29)
    assert "OpenClaw 2026.9.6" in problem.message


def test_render_exits_2_with_one_line_and_writes_nothing(tmp_path):
    path = write(tmp_path, SPEC.replace("TAG", "2026.7.1-2-slim"))
    result = subprocess.run([sys.executable, "-m", "moltgen", "render", "--spec", str(path)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "config.gateway.prot: unknown field 'prot' (did you mean 'port'?)" in result.stderr
    assert not (tmp_path / "base").exists()


def test_this_repository_spec_is_valid_for_its_release():
    project = load_project("moltgen.yaml")
    assert project.base.image.tag == "2026.7.1-2-slim"


def test_enabled_channels_are_configured_and_external_plugins_trusted(tmp_path):
    path = write(tmp_path, """\
        name: a
        namespace: a
        channels: {discord: {enabled: true}, telegram: {enabled: true}, slack: {enabled: false}}
        environments: {dev: {}}
        """)
    config = render_openclaw_config(load_project(path).base)
    assert config["channels"] == {"discord": {"enabled": True}, "telegram": {"enabled": True}}
    # discord is not bundled in the package: the gateway installs @openclaw/discord and runs
    # it only when trusted (verified on 2026.7.1-2 and 2026.9.6, docs/openclaw.md)
    assert config["plugins"] == {"entries": {"discord": {"enabled": True}}}
    assert "token" not in repr(config["channels"])


def test_no_channel_no_channels_block(tmp_path):
    config = render_openclaw_config(load_project(write(tmp_path, "name: a\nnamespace: a\n")).base)
    assert "channels" not in config and "plugins" not in config


def render(tmp_path, tag):
    path = write(tmp_path, SPEC.replace("TAG", tag).split("instances:")[0])
    return subprocess.run([sys.executable, "-m", "moltgen", "render", "--spec", str(path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)


def test_a_tag_without_its_own_schema_warns_at_its_line_naming_the_schema_used(tmp_path):
    from moltgen.openclaw.schema import select_release, shipped_releases

    stand_in = shipped_releases()[-2]
    tag = f"{stand_in}-77-slim"  # a correction after it: no schema of its own
    result = render(tmp_path, tag)
    assert result.returncode == 0, result.stderr
    assert select_release(tag).release == stand_in
    (line,) = [line for line in result.stderr.splitlines() if "config schema" in line]
    assert line.startswith(f"moltgen: warning: {tmp_path / 'moltgen.yaml'}:3:")
    assert f"image.tag: no config schema is shipped for OpenClaw {stand_in}-77;" in line
    assert f"validated against {stand_in}," in line
    assert (tmp_path / "base").is_dir()


def test_a_shipped_tag_renders_without_a_warning(tmp_path):
    result = render(tmp_path, "2026.7.1-2-slim")
    assert result.returncode == 0 and "config schema" not in result.stderr


def test_a_tag_older_than_every_schema_stops_render_in_one_line(tmp_path):
    from moltgen.openclaw.schema import shipped_releases

    result = render(tmp_path, "2025.1.1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"moltgen: {tmp_path / 'moltgen.yaml'}:3:14: image.tag: OpenClaw 2025.1.1 is older than every "
        f"config schema moltgen ships (the oldest is {shipped_releases()[0]}); use a newer image tag"]
    assert not (tmp_path / "base").exists()
