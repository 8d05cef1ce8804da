"""Progress: a rich bar on a terminal; plain lines, no control characters, when piped or in CI."""

import io
import os
import pty
import subprocess
import sys
import threading

from support import run_moltgen

from moltgen.core.progress import PLAIN_MINIMUM, Progress


def config_maps(count: int) -> str:
    return "".join(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, namespace: a}}\n"
                   f"data: {{k: v}}\n" for i in range(count))


def test_plain_lines_every_tenth_and_at_the_end():
    stream = io.StringIO()
    with Progress(stream, live=False, show_after=0) as progress, progress.step("work", 40) as step:
        for _ in range(40):
            step.advance()
    lines = stream.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"moltgen: work: {n}/40" for n in range(4, 41, 4)]
    assert all(line.endswith(" s)") for line in lines)


def test_small_steps_and_silent_progress_print_nothing():
    stream = io.StringIO()
    with Progress(stream, live=False, show_after=0) as progress, progress.step("work", PLAIN_MINIMUM - 1) as step:
        for _ in range(PLAIN_MINIMUM - 1):
            step.advance()
    with Progress(stream, enabled=False) as progress, progress.step("work", 500) as step:
        for _ in range(500):
            step.advance()
    assert stream.getvalue() == ""


def test_workers_in_threads_are_all_counted():
    stream = io.StringIO()
    with Progress(stream, live=False, show_after=0) as progress, progress.step("work", 800) as step:
        threads = [threading.Thread(target=lambda: [step.advance() for _ in range(100)])
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert step.done == 800
    assert stream.getvalue().splitlines()[-1].startswith("moltgen: work: 800/800 (")


def test_a_live_bar_shows_counts_and_elapsed_time():
    stream = io.StringIO()
    with Progress(stream, live=True, show_after=0) as progress, progress.step("checking objects", 30) as step:
        for _ in range(30):
            step.advance()
    output = stream.getvalue()
    assert "checking objects" in output and "30/30" in output and "0:00:0" in output


def test_check_piped_prints_plain_progress_lines(tmp_path):
    (tmp_path / "many.yaml").write_text(config_maps(50))
    result = run_moltgen("check", "many.yaml", cwd=tmp_path, env={"CI": "", "MOLTGEN_PROGRESS_AFTER": "0"})
    assert result.code == 0, result.stderr
    assert "moltgen: checking objects: 50/50 (" in result.stderr
    assert "\x1b" not in result.stderr + result.stdout and "\r" not in result.stderr


def test_check_on_a_terminal_draws_a_bar(tmp_path):
    (tmp_path / "many.yaml").write_text(config_maps(50))
    leader, follower = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k != "CI"}
    environment["TERM"] = "xterm"
    environment["MOLTGEN_PROGRESS_AFTER"] = "0"
    process = subprocess.Popen([sys.executable, "-m", "moltgen", "check", "many.yaml"],
                               cwd=tmp_path, stdin=follower, stdout=follower, stderr=follower,
                               env=environment, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=120) == 0
    output = b"".join(chunks).decode("utf-8", "replace")
    assert "\x1b[" in output  # drawn with control sequences, so it is a live bar
    assert "checking objects" in output and "50/50" in output
    assert "moltgen: checking objects:" not in output  # not the plain lines


def test_render_of_a_fleet_piped_reports_secrets_and_files(tmp_path):
    from moltgen.secrets.age import keygen

    recipient = keygen(tmp_path / "keys.txt").recipient
    instances = "".join(f"  - name: user-{i}\n" for i in range(10))
    (tmp_path / "moltgen.yaml").write_text(
        "name: bot\nnamespace: bots\nsops: {ageRecipients: [" + recipient + "]}\n"
        "environments:\n  dev: {namespace: bots-dev}\n  prod: {}\ninstances:\n" + instances)
    result = run_moltgen("render", cwd=tmp_path, env={"CI": "true", "MOLTGEN_PROGRESS_AFTER": "0"})
    assert result.code == 0, result.stderr
    assert "moltgen: Secrets: 20/20 (" in result.stderr
    assert "moltgen: writing files: " in result.stderr
    assert "\x1b" not in result.stderr + result.stdout


def test_a_step_shorter_than_a_second_shows_nothing():
    stream = io.StringIO()
    for live in (False, True):
        with Progress(stream, live=live, show_after=1.0) as progress, progress.step("work", 500) as step:
            for _ in range(500):
                step.advance()
    assert stream.getvalue() == ""


def test_a_step_longer_than_the_delay_shows_from_then_on():
    import time
    stream = io.StringIO()
    with Progress(stream, live=False, show_after=0.2) as progress, progress.step("work", 40) as step:
        for index in range(40):
            if index == 20:
                time.sleep(0.25)
            step.advance()
    lines = [line.split(" (")[0] for line in stream.getvalue().splitlines()]
    assert lines == [f"moltgen: work: {n}/40" for n in range(24, 41, 4)]


def test_a_small_render_piped_prints_no_progress(tmp_path):
    (tmp_path / "moltgen.yaml").write_text("name: bot\nnamespace: bots\n")
    result = run_moltgen("render", cwd=tmp_path, env={"CI": "true"})
    assert result.code == 0 and "moltgen: writing files" not in result.stderr
