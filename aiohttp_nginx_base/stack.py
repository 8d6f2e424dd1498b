"""Run the stack: validate, render, then supervisord's loop in this process (PID 1 in a container)."""

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
import time
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any, Dict, Optional, Set, Tuple

from . import render
from .settings import Settings, SettingsError

STATE_FILE = Path("run") / "state.json"
GUNICORN_PID = Path("run") / "gunicorn.pid"
PROGRAMS = ("gunicorn", "nginx")


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


class Supervision:
    """supervisord's own main loop, run in this process, with three additions.

    - A program (gunicorn or nginx) that stops on its own ends the stack and
      makes it exit 1 with the cause as the last line: supervisord would exit 0.
    - SIGQUIT is a fast stop (supervisord treats it like SIGTERM).
    - SIGHUP re-renders and reloads nginx and gunicorn gracefully (supervisord
      would restart every program).
    Running supervisord in-process rather than as a child saves a Python
    interpreter's memory and start-up time; as PID 1 it also reaps orphans.
    """

    def __init__(self, settings: Settings, conf: Path) -> None:
        self.settings = settings
        self.conf = conf
        self.failure = ""
        self.fast_stop = False
        self.options: Any = None
        self.running: Set[str] = set()
        self.groups: Dict[str, int] = {}
        self._wakeup: Tuple[socket.socket, socket.socket]

    def run(self) -> int:
        from supervisor import events, supervisord
        from supervisor.options import ServerOptions

        options = self.options = ServerOptions()
        options.realize(["-c", str(self.conf)])
        options.first, options.test = True, False  # what supervisord.main() sets before go()
        install_supervisord_handlers = options.setsignals

        def setsignals() -> None:
            # called by supervisord after it has cleared event subscriptions
            install_supervisord_handlers()
            events.subscribe(events.ProcessStateExitedEvent, self._on_program_end)
            events.subscribe(events.ProcessStateFatalEvent, self._on_program_end)
            events.subscribe(events.ProcessStateRunningEvent, self._on_program_running)
            signal.signal(signal.SIGQUIT, self._on_quit)
            signal.signal(signal.SIGHUP, self._on_hup)

        options.setsignals = setsignals
        self._responsive_poll(options)
        supervisord.go(options)
        options.close_httpservers()
        options.close_logger()
        if self.failure and not self.fast_stop:
            print(f"aiohttp-nginx: stopped because {self.failure}", file=sys.stderr, flush=True)
            return 1
        return 0

    def _responsive_poll(self, options: Any) -> None:
        """supervisord acts on signals and state changes once per 1-second poll: programs
        would start a second late and each step of a stop would wait as long. A signal now
        wakes the poll (through a wakeup socket), and while starting or stopping it polls
        every 20 ms; once everything runs, it idles at supervisord's own pace."""
        from supervisor.states import SupervisorStates

        wake_read, wake_write = socket.socketpair()
        for end in (wake_read, wake_write):
            end.setblocking(False)
        signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
        self._wakeup = (wake_read, wake_write)  # kept open for the life of the loop
        poll = options.poller.poll

        def responsive_poll(timeout: float) -> Any:
            changing = options.mood != SupervisorStates.RUNNING or self.running != set(PROGRAMS)
            options.poller.register_readable(wake_read.fileno())
            readable, writable = poll(min(timeout, 0.02) if changing else timeout)
            if wake_read.fileno() in readable:
                readable = [fd for fd in readable if fd != wake_read.fileno()]
                try:
                    wake_read.recv(4096)
                except BlockingIOError:
                    pass
            return readable, writable

        options.poller.poll = responsive_poll

    def _on_program_running(self, event: Any) -> None:
        self.running.add(event.process.config.name)
        self.groups[event.process.config.name] = event.process.pid  # supervisord gives each its own group

    def _on_program_end(self, event: Any) -> None:
        from supervisor.states import SupervisorStates

        name = event.process.config.name
        if name not in PROGRAMS or self.fast_stop or self.options.mood < SupervisorStates.RUNNING:
            return  # a requested stop, or a shutdown already under way
        # what the dead program left behind (nginx's workers outlive a killed master) goes too
        _end_group(self.groups.get(name))
        status = event.process.exitstatus
        self.failure = f"{name} could not be started" if status is None else f"{name} exited unexpectedly (exit status {status})"
        print(f"aiohttp-nginx: {self.failure}; stopping", file=sys.stderr, flush=True)
        self.options.mood = SupervisorStates.SHUTDOWN

    def _on_quit(self, signum: int, frame: Optional[FrameType]) -> None:
        # fast stop: nginx's and gunicorn's own quick-shutdown signals, then the usual shutdown
        self.fast_stop = True
        _signal_pidfile(self.settings.runtime_dir / "nginx.pid", signal.SIGTERM)
        _signal_pidfile(self.settings.runtime_dir / GUNICORN_PID, signal.SIGINT)
        self.options.signal_receiver.receive(signal.SIGTERM, frame)

    def _on_hup(self, signum: int, frame: Optional[FrameType]) -> None:
        reload(self.settings)


def _end_group(pgid: Optional[int], seconds: float = 2.0) -> None:
    if not pgid:
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except OSError:
            return
        time.sleep(0.02)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def _signal_pidfile(path: Path, sig: int) -> bool:
    try:
        os.kill(int(path.read_text().strip()), sig)
        return True
    except (OSError, ValueError):
        return False


def start(settings: Settings, reload_code: bool = False, cleanup: bool = False) -> int:
    nginx_bin = render.find_nginx()
    check_port(settings.listen_port)
    render.prepare_runtime_dir(settings)
    paths = render.render(settings, reload=reload_code, nginx_bin=nginx_bin, output_pid=os.getpid())
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
        return Supervision(settings, paths.supervisord_conf).run()
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
    render.render(settings, supervisord=False, output_pid=os.getpid())
    _signal_pidfile(settings.runtime_dir / GUNICORN_PID, signal.SIGHUP)  # new workers; old ones finish gracefully
    _signal_pidfile(settings.runtime_dir / "nginx.pid", signal.SIGHUP)
