"""The prestart hook in host mode: `aiohttp-nginx run` with a real process tree (issue 11: stops during prestart)."""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import pytest

from tests.support import get_text, pid_alive, wait_until


def write_hook(tmp_path: Path, text: str) -> Path:
    hook = tmp_path / "hook.sh"
    hook.write_text(textwrap.dedent(text))
    return hook


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_in_the_middle_of_a_slow_prestart_stops_at_once(host_stack, tmp_path: Path, sig: int) -> None:
    # the attack: the orchestrator stops a container whose prestart.sh waits for a database that never comes
    pid_file = tmp_path / "sleep.pid"
    hook = write_hook(tmp_path, f"""\
        echo waiting for the database
        sleep 60 &
        echo $! > {pid_file}
        wait
        export GREETING=too-late
    """)
    stack = host_stack(env={"PRE_START_PATH": str(hook), "RUNTIME_DIR": str(tmp_path / "rt")}, ready=False)
    sleeper = int(wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() or None, 20, "the hook's sleep"))
    status = stack.stop(sig, timeout=15)  # a stop that waited for the sleep would take 60 s
    name = signal.Signals(sig).name
    assert status == 128 + sig, stack.output
    stop_lines = [line for line in stack.lines if line.startswith("aiohttp-nginx:") and "sourcing" not in line]
    assert len(stop_lines) == 1 and stop_lines[0].startswith(f"aiohttp-nginx: stopped by {name} while {hook} ran"), stack.output
    assert "Traceback" not in stack.output
    assert not (tmp_path / "rt").exists()  # nothing was rendered or started
    wait_until(lambda: not pid_alive(sleeper), 5, "the hook's child to end")


def test_a_prestart_that_fails_stops_the_start_with_its_status_in_one_line(host_stack, tmp_path: Path) -> None:
    hook = write_hook(tmp_path, "echo migrating\nexit 4\n")
    stack = host_stack(env={"PRE_START_PATH": str(hook)}, ready=False)
    assert stack.proc.wait(20) == 4, stack.output
    stack.stop()
    assert [line for line in stack.lines if line.startswith("aiohttp-nginx:")] == [
        f"aiohttp-nginx: sourcing {hook}\n",
        f"aiohttp-nginx: {hook} failed (exit status 4); not starting\n",
    ]


def test_what_prestart_leaves_in_the_background_gets_sigterm_when_the_stack_stops(host_stack, tmp_path: Path) -> None:
    # e.g. a metrics exporter or a tunnel started by prestart.sh: it must not outlive the stack
    marker = tmp_path / "got-term"
    hook = write_hook(tmp_path, f"""\
        sh -c 'trap "echo TERM > {marker}; exit 0" TERM; echo $$ > {marker}.pid; while :; do sleep 0.1; done' &
        export GREETING="from the hook"
    """)
    stack = host_stack(env={"PRE_START_PATH": str(hook)})
    assert get_text(stack.port, "/env/GREETING") == (200, "from the hook")  # the export reached the app
    helper = int((tmp_path / "got-term.pid").read_text())
    assert pid_alive(helper)  # it runs alongside the stack
    assert stack.stop(signal.SIGTERM, timeout=20) == 0, stack.output
    assert marker.read_text() == "TERM\n"
    wait_until(lambda: not pid_alive(helper), 5, "the background helper to end")
