"""Run the stack: render, then supervise supervisord as the container's PID 1.

`start` stays the parent of supervisord instead of exec'ing it, for three
reasons: supervisord exits 0 even when it stopped because a program failed,
so only a parent can turn that into a non-zero exit with the cause as the
last line; as PID 1 someone must reap orphaned processes; and SIGQUIT should
mean a fast stop, which supervisord does not offer.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any, Dict, List, Optional

from . import control, render
from .settings import Settings, SettingsError
from .watchdog import FAILURE_FILE

STATE_FILE = Path("run") / "state.json"


def check_port(port: int) -> None:
    """Fail with one line when nginx will not be able to bind LISTEN_PORT (on IPv4, and IPv6 where nginx uses it)."""
    families = [(socket.AF_INET, "0.0.0.0")] + ([(socket.AF_INET6, "::")] if render.ipv6_available() else [])
    for family, address in families:
        _probe_bind(family, address, port)


def _probe_bind(family: socket.AddressFamily, address: str, port: int) -> None:
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as nginx's ipv6only=on
        try:
            probe.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EACCES:
                raise SettingsError("LISTEN_PORT", str(port), "a port >= 1024 when not running as root (permission denied)") from None
            if exc.errno == errno.EADDRINUSE:
                raise SettingsError("LISTEN_PORT", str(port), "a free port (another process is listening on it)") from None
            raise SettingsError("LISTEN_PORT", str(port), f"a port this host can bind ({exc.strerror})") from None


def nginx_test(settings: Settings, nginx_bin: str) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on configs rendered into a scratch runtime directory."""
    with tempfile.TemporaryDirectory(prefix="aiohttp-nginx-check-") as scratch:
        trial = replace(settings, runtime_dir=Path(scratch))
        render.prepare_runtime_dir(trial)
        paths = render.render(trial, nginx_bin=nginx_bin)
        return subprocess.run(
            [nginx_bin, "-t", "-q", "-p", f"{scratch}/nginx", "-e", "stderr", "-c", str(paths.nginx_conf)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


class Supervisor:
    """supervisord as a child; signals forwarded, orphans reaped."""

    def __init__(self, settings: Settings, conf: Path) -> None:
        self.settings = settings
        self.conf = conf
        self.child: Optional[subprocess.Popen[bytes]] = None

    def _on_stop(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.child and self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)  # graceful: nginx QUIT, then gunicorn TERM

    def _on_quit(self, signum: int, frame: Optional[FrameType]) -> None:
        # fast stop: nginx's and gunicorn's own quick-shutdown signals, then supervisord
        self.fast_stop = True
        for name, sig in (("nginx", "TERM"), ("gunicorn", "INT")):
            try:
                control.signal_program(self.settings.runtime_dir, name, sig)
            except Exception:  # noqa: BLE001 - a program may already be gone
                pass
        self._on_stop(signum, frame)

    def _on_hup(self, signum: int, frame: Optional[FrameType]) -> None:
        reload(self.settings)

    def run(self) -> int:
        argv: List[str] = [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf)]
        # own session: a terminal's Ctrl-C reaches only us, and we stop the stack gracefully
        self.child = subprocess.Popen(argv, start_new_session=True)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGQUIT, self._on_quit)
        signal.signal(signal.SIGHUP, self._on_hup)
        status = 0
        while True:
            try:
                pid, raw = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if pid == self.child.pid:
                status = os.waitstatus_to_exitcode(raw) if hasattr(os, "waitstatus_to_exitcode") else raw >> 8
                break
        return status


def start(settings: Settings, reload_code: bool = False, cleanup: bool = False) -> int:
    nginx_bin = render.find_nginx()
    check_port(settings.listen_port)
    render.prepare_runtime_dir(settings)
    failure = settings.runtime_dir / FAILURE_FILE
    if failure.exists():
        failure.unlink()
    paths = render.render(settings, reload=reload_code, nginx_bin=nginx_bin)
    # what `reload` and `healthcheck` (run later through `docker exec`) need to find us
    (settings.runtime_dir / STATE_FILE).write_text(json.dumps({**settings.as_dict(), "pid": os.getpid()}))
    print(
        f"aiohttp-nginx: serving {settings.app_module} on port {settings.listen_port} "
        f"({settings.workers} gunicorn workers, {settings.nginx_worker_processes} nginx workers; "
        f"configs in {settings.runtime_dir})",
        file=sys.stderr,
        flush=True,
    )
    try:
        supervisor = Supervisor(settings, paths.supervisord_conf)
        status = supervisor.run()
        if failure.exists() and not supervisor.fast_stop:
            print(f"aiohttp-nginx: stopped because {failure.read_text().strip()}", file=sys.stderr, flush=True)
            return 1
        return status
    finally:
        if cleanup:
            shutil.rmtree(settings.runtime_dir, ignore_errors=True)


def running_state(runtime_dir: Path) -> Optional[Dict[str, Any]]:
    try:
        return dict(json.loads((runtime_dir / STATE_FILE).read_text()))
    except (OSError, ValueError):
        return None


def request_reload(runtime_dir: Path) -> Optional[int]:
    """Ask the running `start` to reload; returns its pid, or None when none runs."""
    state = running_state(runtime_dir)
    if not state:
        return None
    try:
        os.kill(int(state["pid"]), signal.SIGHUP)
    except (ProcessLookupError, KeyError, ValueError):
        return None
    return int(state["pid"])


def reload(settings: Settings) -> None:
    """Re-render the configs and reload nginx and gunicorn without dropping requests."""
    render.render(settings, supervisord=False)
    control.signal_program(settings.runtime_dir, "gunicorn", "HUP")  # new workers, old ones finish gracefully
    control.signal_program(settings.runtime_dir, "nginx", "HUP")
