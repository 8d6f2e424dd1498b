"""Host mode: the real nginx, gunicorn and supervisord started by `aiohttp-nginx run`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import pytest

from tests.support import APPS, answers, free_port, wait_until


class HostStack:
    def __init__(self, app_dir: Path, env: Dict[str, str], args: Optional[List[str]] = None, python: Optional[str] = None) -> None:
        self.app_dir = app_dir
        self.port = free_port()
        base = {k: v for k, v in os.environ.items() if k != "RUNTIME_DIR"}
        self.env = {**base, "LISTEN_PORT": str(self.port), **env}
        self.proc = subprocess.Popen(
            [python or sys.executable, "-m", "aiohttp_nginx_base", "run", str(app_dir), *(args or [])],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            universal_newlines=True,
        )
        self.lines: List[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout: float = 20) -> HostStack:
        wait_until(lambda: answers(self.port) or self._exited(), timeout, f"the stack on port {self.port}")
        if self.proc.poll() is not None:
            raise AssertionError(f"the stack exited with {self.proc.returncode}:\n{self.output}")
        return self

    def _exited(self) -> bool:
        return self.proc.poll() is not None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self._reader.join(5)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


StackFactory = Callable[..., HostStack]


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A scratch directory every user may pass through, for a RUNTIME_DIR or APP_DIR: when the suite
    runs as root, nginx's workers run as an unprivileged user, and pytest's tmp_path is root-only."""
    path = Path(tempfile.mkdtemp(prefix="aiohttp-nginx-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def host_stack(tmp_path: Path) -> Iterator[StackFactory]:
    """Start `aiohttp-nginx run` on a copy of a test app; stopped (and reported) after the test."""
    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is not installed: host-mode tests need it (apt-get install nginx)")
    started: List[HostStack] = []
    # not under tmp_path (root-only when the suite runs as root): nginx's unprivileged workers serve its static files
    apps = Path(tempfile.mkdtemp(prefix="aiohttp-nginx-apps-"))
    apps.chmod(0o755)

    def start(app: str = "full", env: Optional[Dict[str, str]] = None, ready: bool = True, args: Optional[List[str]] = None) -> HostStack:
        app_dir = apps / app
        shutil.copytree(APPS / app, app_dir)
        stack = HostStack(app_dir, env or {}, args)
        started.append(stack)
        return stack.wait_ready() if ready else stack

    yield start
    for stack in started:
        if stack.proc.poll() is None:
            try:
                stack.stop(timeout=20)
            except subprocess.TimeoutExpired:
                stack.kill()
                raise AssertionError(f"the stack did not stop within 20 s:\n{stack.output}") from None
    shutil.rmtree(apps, ignore_errors=True)
