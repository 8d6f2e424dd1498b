"""The prestart hook, sourced by the real `sh` in its own process group (aiohttp_nginx_base.prestart)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict

import pytest

from aiohttp_nginx_base import prestart, processes
from tests.support import pid_alive, wait_until


@pytest.fixture
def env(tmp_path: Path) -> Dict[str, str]:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "APP_DIR": str(app_dir)}


def hook(env: Dict[str, str], text: str) -> Path:
    path = Path(env["APP_DIR"]) / "prestart.sh"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_hooks_exports_are_in_the_environment_it_leaves(env: Dict[str, str], capfd: pytest.CaptureFixture[str]) -> None:
    path = hook(env, 'export GREETING="from prestart"\nLOCAL="not exported"\n')
    result = prestart.run(env, prestart.StopGuard())
    assert result.exit_status == 0
    assert result.env["GREETING"] == "from prestart"
    assert "LOCAL" not in result.env
    assert result.env["APP_DIR"] == env["APP_DIR"]
    assert f"aiohttp-nginx: sourcing {path}" in capfd.readouterr().err


def test_pre_start_path_names_another_hook(env: Dict[str, str], tmp_path: Path) -> None:
    hook(env, 'export GREETING="the default hook"\n')
    elsewhere = tmp_path / "elsewhere.sh"
    elsewhere.write_text('export GREETING="PRE_START_PATH"\n')
    result = prestart.run({**env, "PRE_START_PATH": str(elsewhere)}, prestart.StopGuard())
    assert result.env["GREETING"] == "PRE_START_PATH"


def test_without_a_hook_the_environment_is_unchanged_and_nothing_runs(env: Dict[str, str], capfd: pytest.CaptureFixture[str]) -> None:
    result = prestart.run(env, prestart.StopGuard())
    assert (result.env, result.group, result.exit_status) == (env, None, 0)
    assert "sourcing" not in capfd.readouterr().err


def test_a_failing_command_stops_the_hook_with_its_status_in_one_line(env: Dict[str, str], capfd: pytest.CaptureFixture[str]) -> None:
    # sourced under `set -e`, as /start.sh always did: the first failure ends it
    path = hook(env, "(exit 3)\nexport GREETING=too-late\n")
    result = prestart.run(env, prestart.StopGuard())
    assert result.exit_status == 3
    assert "GREETING" not in result.env
    err = capfd.readouterr().err
    assert f"aiohttp-nginx: {path} failed (exit status 3); not starting\n" in err
    assert "Traceback" not in err


def test_the_hook_can_read_values_that_are_not_utf8(env: Dict[str, str]) -> None:
    hook(env, "export RAW=\"$(printf 'caf\\351')\"\n")
    result = prestart.run(env, prestart.StopGuard())
    assert os.fsencode(result.env["RAW"]) == b"caf\xe9"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_during_a_slow_hook_ends_it_and_its_children_at_once(env: Dict[str, str], tmp_path: Path, sig: int) -> None:
    # the attack: `docker stop` while prestart.sh waits on a database that never comes
    marker = tmp_path / "sleeper.pid"
    hook(env, f"sleep 60 &\necho $! > {marker}\nwait\nexport GREETING=too-late\n")
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER, env["APP_DIR"]], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    sleeper = int(wait_until(lambda: marker.exists() and marker.read_text().strip() or None, 20, "the hook's sleep"))
    runner.send_signal(sig)
    try:
        out, err = runner.communicate(timeout=10)  # the hook would sleep 60 s
    finally:
        runner.kill()
    assert runner.returncode == 128 + sig, err
    assert err.count("\n") == 2 and f"stopped by {signal.Signals(sig).name} while" in err, err  # "sourcing", then one line
    assert "GREETING" not in out
    wait_until(lambda: not pid_alive(sleeper), 5, "the hook's sleep to end")


# runs prestart as `aiohttp-nginx start` does, and prints the environment it leaves
RUNNER = """
import json, sys
from aiohttp_nginx_base import prestart, processes
guard = prestart.StopGuard()
guard.install()
result = prestart.run({**__import__("os").environ}, guard)
processes.end_group(result.group)
print(json.dumps(result.env))
sys.exit(result.exit_status)
"""


def test_what_the_hook_leaves_in_the_background_is_in_its_group_and_ends_with_it(env: Dict[str, str], tmp_path: Path) -> None:
    marker = tmp_path / "got-term"
    hook(env, f"sh -c 'trap \"echo TERM > {marker}; exit 0\" TERM; while :; do sleep 0.1; done' &\n")
    result = prestart.run(env, prestart.StopGuard())
    assert result.exit_status == 0 and result.group
    assert processes.group_alive(result.group)  # the stack goes on while it runs
    processes.end_group(result.group)
    assert marker.read_text() == "TERM\n"
    assert not processes.group_alive(result.group)
