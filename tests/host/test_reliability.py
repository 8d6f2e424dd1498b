"""Reload without loss, nginx dying, fast stop: on the host, with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List

from tests.support import get_text, wait_until


def _pids(port: int, samples: int = 20) -> set:
    return {get_text(port, "/pid")[1] for _ in range(samples)}


def test_reload_swaps_workers_with_zero_failed_requests(host_stack, open_tmp: Path) -> None:
    runtime = open_tmp / "runtime"
    stack = host_stack(env={"RUNTIME_DIR": str(runtime), "WEB_CONCURRENCY": "2"})
    before = _pids(stack.port)
    failures: List[str] = []
    done = threading.Event()
    count = [0]

    def load() -> None:
        deadline = time.monotonic() + 30
        while not done.is_set() and time.monotonic() < deadline and count[0] < 20000:
            try:
                status, _ = get_text(stack.port, "/")
                if status != 200:
                    failures.append(str(status))
            except OSError as exc:
                failures.append(repr(exc))
            count[0] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "aiohttp_nginx_base", "reload"],
            env={**os.environ, "RUNTIME_DIR": str(runtime)}, stderr=subprocess.PIPE, text=True, timeout=30,
        )
        assert result.returncode == 0, result.stderr
        wait_until(lambda: not (_pids(stack.port) & before), 30, "only new workers answering")
    finally:
        done.set()
        for thread in threads:
            thread.join(40)
    assert count[0] > 100
    assert failures == [], failures[:5]


def test_nginx_dying_stops_the_stack_with_a_failure(host_stack, open_tmp: Path) -> None:
    runtime = open_tmp / "runtime"
    stack = host_stack(env={"RUNTIME_DIR": str(runtime)})
    nginx_pid = int((runtime / "nginx.pid").read_text())
    os.kill(nginx_pid, signal.SIGKILL)
    started = time.monotonic()
    code = stack.proc.wait(30)
    took = time.monotonic() - started
    stack._reader.join(5)
    assert code != 0
    assert took < 20, f"took {took:.1f} s"  # seconds, not a wait for something that never comes
    assert "nginx exited unexpectedly" in stack.output.strip().splitlines()[-1]


def test_sigquit_is_a_fast_stop(host_stack, tmp_path: Path) -> None:
    stack = host_stack(env={"GRACEFUL_TIMEOUT": "30", "STOP_TIMEOUT": "32"})
    mark = tmp_path / "in-flight"
    threading.Thread(target=lambda: _ignore_errors(lambda: get_text(stack.port, f"/slow?s=20&mark={mark}")), daemon=True).start()
    wait_until(mark.exists, 10, "the slow request to reach the app")
    started = time.monotonic()
    stack.stop(signal.SIGQUIT, timeout=15)
    assert time.monotonic() - started < 10, "a fast stop must not wait for the 20 s request"


def _ignore_errors(func) -> None:
    try:
        func()
    except OSError:
        pass
