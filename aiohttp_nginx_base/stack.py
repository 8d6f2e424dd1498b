"""Run the stack: validate, render, then supervisord's loop in this process (PID 1 in a container)."""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Dict, Mapping, Optional, Set, Tuple

from . import control, private, processes, render, runfiles, runtime, settings, trust
from . import supervisor_hooks as hooks
from .host import Host, gather
from .prestart import StopGuard
from .say import say
from .settings import Settings, SettingsError

STATE_FILE = control.STATE_FILE
APP_FAILED = "the app failed to "  # how a worker's reason begins (loader.LoadError.reason)
GUNICORN_PID = Path("run") / "gunicorn.pid"
NGINX_PID = Path("nginx.pid")  # as nginx.conf.j2's `pid`
PROGRAMS = ("gunicorn", "nginx")


def check_port(port: int, host: Host) -> None:
    """Fail with one line when nginx will not be able to bind LISTEN_PORT (on IPv4, and IPv6 where nginx uses it)."""
    families = [(socket.AF_INET, "0.0.0.0")] + ([(socket.AF_INET6, "::")] if host.ipv6 else [])
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


def supervisord_test(settings: Settings, host: Host) -> str:
    """'' when supervisord reads the programs back as rendered (paths with spaces or '%' included), else why not:
    `check` and `start` agree."""
    with tempfile.TemporaryDirectory(prefix="aiohttp-nginx-check-") as scratch:
        trial = replace(settings, runtime_dir=Path(scratch))
        runtime.prepare(trial, host)
        paths = runtime.render_into(trial, host)
        try:
            commands = hooks.program_commands(paths[render.SUPERVISORD_CONF])
        except ValueError as exc:
            return f"supervisord rejected the generated configuration: {(str(exc).splitlines() or [''])[0]}"
        for name, binary in (("gunicorn", host.python), ("nginx", host.nginx_bin or "nginx")):
            argv = shlex.split(commands[name])
            if binary not in argv:
                return f"supervisord would not run {binary!r} for {name} (it reads {argv[0]!r})"
    return ""


def nginx_test(settings: Settings, host: Host) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on configs rendered into a scratch runtime directory."""
    nginx_bin = host.require_nginx()
    with tempfile.TemporaryDirectory(prefix="aiohttp-nginx-check-") as scratch:
        trial = replace(settings, runtime_dir=Path(scratch))
        runtime.prepare(trial, host)
        runtime.render_into(trial, host)
        return subprocess.run(
            [nginx_bin, "-t", "-q", "-p", f"{scratch}/nginx", "-e", "stderr", "-c", str(render.nginx_conf_path(trial))],
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
    - SIGTERM (and SIGINT) stop in the order a load balancer and websocket
      clients need (see `Drain`); supervisord would stop nginx completely
      before telling gunicorn, cutting websockets before the app could close them.
    Running supervisord in-process rather than as a child saves a Python
    interpreter's memory and start-up time; as PID 1 it also reaps orphans.
    """

    def __init__(self, settings: Settings, host: Host, conf: Path, env: Mapping[str, str], guard: Optional[StopGuard] = None) -> None:
        self.settings = settings
        self.host = host
        self.conf = conf
        self.env = dict(env)  # the start-time environment (prestart's exports included): SIGHUP re-reads it
        self.guard = guard
        self.secret = ""  # this start's proof, set by start(): kept across reloads
        self.hups = 0  # SIGHUPs received: the handler only counts them (the one attribute it writes)
        self.reloads = 0  # SIGHUPs acted on by the main loop (each `aiohttp-nginx reload` waits for the count to pass its own)
        self.early_hup = False  # a reload asked for before supervisord's handlers were in place
        self.failure = ""
        self.app_failed = False  # the failure is the app's: its one-line reason is the last line
        self.fast_stop = False
        self.options: Any = None
        self.running: Set[str] = set()
        self.groups: Dict[str, int] = {}
        self.ended: Set[str] = set()
        self.drain: Optional[Drain] = None
        self._wakeup: Tuple[socket.socket, socket.socket]

    def run(self) -> int:
        options = self.options = hooks.server_options(self.conf)

        def install() -> None:
            hooks.subscribe_programs(self._on_program_running, self._on_program_end)
            signal.signal(signal.SIGQUIT, self._on_quit)
            signal.signal(signal.SIGHUP, self._on_hup)
            signal.signal(signal.SIGTERM, self._on_term)
            signal.signal(signal.SIGINT, self._on_term)
            if self.guard and self.guard.signal:  # a stop requested before these handlers were in place
                self._on_stop_signal(self.guard.signal)
            elif self.early_hup:
                self._on_hup(signal.SIGHUP, None)

        hooks.after_setsignals(options, install)
        self._responsive_poll(options)
        hooks.run_loop(options)
        if self.failure and not self.fast_stop:
            said = self.failure if self.app_failed else f"stopped because {self.failure}"
            say(said)
            return 1
        return 0

    def _responsive_poll(self, options: Any) -> None:
        """supervisord acts on signals and state changes once per 1-second poll: programs
        would start a second late and each step of a stop would wait as long. A signal now
        wakes the poll (through a wakeup socket), and while starting or stopping it polls
        every 20 ms; once everything runs, it idles at supervisord's own pace."""
        wake_read, wake_write = socket.socketpair()
        for end in (wake_read, wake_write):
            end.setblocking(False)
        signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
        self._wakeup = (wake_read, wake_write)  # kept open for the life of the loop

        def responsive_poll(poll: hooks.Poll, timeout: float) -> hooks.PollResult:
            self.reload_if_asked()  # one that came before supervisord's handlers, or while the loop worked
            if self.drain is not None:
                self.drain.step()
                timeout = min(timeout, self.drain.remaining())
            changing = not hooks.is_running(options) or self.running != set(PROGRAMS)
            hooks.watch_readable(options, wake_read.fileno())
            readable, writable = poll(min(timeout, 0.02) if changing else timeout)
            if wake_read.fileno() in readable:
                readable = [fd for fd in readable if fd != wake_read.fileno()]
                try:
                    wake_read.recv(4096)
                except BlockingIOError:
                    pass
            self.reload_if_asked()  # a SIGHUP that woke this poll
            return readable, writable

        hooks.wrap_poll(options, responsive_poll)

    def _on_program_running(self, event: Any) -> None:
        name, pid, _ = hooks.program_of(event)
        self.running.add(name)
        self.groups[name] = pid  # supervisord gives each its own group

    def _on_program_end(self, event: Any) -> None:
        name, _, status = hooks.program_of(event)
        self.ended.add(name)
        if self.drain is not None:
            self.drain.step()  # nginx has finished: gunicorn's turn, without waiting for the poll
        stopping = self.drain is not None and self.drain.stopping
        if name not in PROGRAMS or self.fast_stop or stopping or hooks.is_stopping(self.options):
            return  # a requested stop, or a shutdown already under way
        # what the dead program left behind (nginx's workers outlive a killed master) goes too
        processes.end_group(self.groups.get(name))
        self.failure = f"{name} could not be started" if status is None else f"{name} exited unexpectedly (exit status {status})"
        # a worker that could not load the app left the reason (worker.py): said once, last
        reason = runfiles.read(self.settings.runtime_dir / runfiles.REPORTS, runfiles.LOAD_FAILURE) if name == "gunicorn" else ""
        if reason.startswith(APP_FAILED):  # "the app failed to load: ..." or "... to start: ..."
            self.failure, self.app_failed = reason, True
        else:
            say(f"{self.failure}; stopping")
        hooks.shut_down(self.options)

    def _on_stop_signal(self, signum: int) -> None:
        if signum == signal.SIGQUIT:
            self._on_quit(signum, None)
        else:
            hooks.deliver_signal(self.options, signum)

    def _on_quit(self, signum: int, frame: Optional[FrameType]) -> None:
        # fast stop: nginx's and gunicorn's own quick-shutdown signals, then the usual shutdown
        self.fast_stop = True
        processes.signal_pidfile(self.settings.runtime_dir / NGINX_PID, signal.SIGTERM)
        processes.signal_pidfile(self.settings.runtime_dir / GUNICORN_PID, signal.SIGINT)
        hooks.deliver_signal(self.options, signal.SIGTERM)

    def hold_reloads(self) -> None:
        """From now on `reload` can find the stack: SIGHUP's default action would end it
        until supervisord's handlers are in, so a SIGHUP is remembered and answered then."""

        def remember(signum: int, frame: Optional[FrameType]) -> None:
            self.early_hup = True

        signal.signal(signal.SIGHUP, remember)

    def _on_hup(self, signum: int, frame: Optional[FrameType]) -> None:
        # as gunicorn's arbiter does: the handler only queues; the signal also wakes supervisord's poll (the
        # wakeup socket), where reload_if_asked() does the work outside the handler - reading the settings,
        # rendering and writing files, signalling - so a SIGHUP landing mid-write cannot reenter any of it
        self.hups += 1

    def reload_if_asked(self) -> None:
        """The reload queued SIGHUPs asked for, once for all of them, from supervisord's main loop.

        A failed reload must not end the stack: the running configs and processes stay as they are, one
        line says why, and `aiohttp-nginx reload` gets the answer through the result file."""
        asked = self.hups  # read once: a SIGHUP arriving meanwhile counts towards the next round
        if asked == self.reloads:
            return
        self.reloads = asked
        ok, message = True, "reloaded"
        try:
            self.settings = reload(self.env, self.host, self.secret)
        except SettingsError as exc:
            ok, message = False, str(exc)
            say(f"reload refused, the running configuration stays: {exc}")
        except Exception as exc:  # noqa: BLE001 - whatever the cause (full disk, read-only file, gone directory)
            ok, message = False, _describe(exc)
            say(f"reload failed: {message}; still serving with the previous configs")
        control.record_result(self.settings.runtime_dir, self.reloads, ok, message)

    def _on_term(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.drain is not None:
            self.drain.hurry()  # a second SIGTERM: the delay is over
        elif self.fast_stop or hooks.is_stopping(self.options) or self.running != set(PROGRAMS):
            # still starting (or already stopping): supervisord's own stop is all there is to do
            hooks.deliver_signal(self.options, signum)
        else:
            self.drain = Drain(self.settings, lambda: hooks.deliver_signal(self.options, signal.SIGTERM), lambda: "nginx" in self.ended)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({exc.filename})" if exc.filename else exc.strerror
    return (str(exc).splitlines() or [type(exc).__name__])[0]


class Drain:
    """A stop that loses nothing behind a load balancer (issue 14), run from supervisord's poll.

    1. At once: the draining flag makes the readiness probe answer 503 and the healthcheck fail,
       while nginx and gunicorn keep serving for SHUTDOWN_DELAY seconds (balancers notice and
       stop sending requests; a second SIGTERM ends the delay).
    2. nginx gets QUIT: it closes its listener and idle connections but keeps relaying the open
       ones (requests in flight, websockets) for GRACEFUL_TIMEOUT + 1 s.
    3. Once nginx has exited, or after at most NGINX_FIRST seconds (its plain requests are then
       done; what keeps it are websockets), gunicorn gets TERM: the app's shutdown hooks run
       while nginx still relays, so what they send (a websocket's 1001 close) reaches the client.
       TERMing gunicorn at once would close upstream connections nginx is still passing
       requests into (502s under load).
    4. supervisord's own stop waits for both to exit (nginx does once its connections are done).
    """

    LISTENER_CLOSE_WAIT = 1.0  # seconds to wait for nginx's workers to close the listener
    NGINX_FIRST = 1.0  # part of settings.STOP_MARGIN

    def __init__(self, settings: Settings, stop_supervisord: Callable[[], None], nginx_ended: Callable[[], bool]) -> None:
        self.settings = settings
        self.stop_supervisord = stop_supervisord
        self.nginx_ended = nginx_ended
        self.deadline = time.monotonic() + settings.shutdown_delay
        self.stopping = False  # nginx told
        self.done = False  # gunicorn told too
        try:
            settings.draining_flag.touch()
        except OSError as exc:
            problem = f"cannot write {settings.draining_flag} ({exc.strerror}): readiness stays 200"
            say(problem)
        if settings.shutdown_delay:
            say(f"stopping in {settings.shutdown_delay} s (SHUTDOWN_DELAY); not ready from now on")

    def hurry(self) -> None:
        if not self.stopping:
            self.deadline = min(self.deadline, time.monotonic())

    def remaining(self) -> float:
        """Seconds until the next step is due (supervisord's poll waits no longer)."""
        return float("inf") if self.done else max(0.0, self.deadline - time.monotonic())

    def step(self) -> None:
        if self.done or time.monotonic() < self.deadline:
            return
        run_dir = self.settings.runtime_dir
        if not self.stopping:
            self.stopping = True
            if processes.signal_pidfile(run_dir / NGINX_PID, signal.SIGQUIT):
                _wait_refused(self.settings.listen_port, self.LISTENER_CLOSE_WAIT)
            self.deadline = time.monotonic() + self.NGINX_FIRST
            if not self.nginx_ended():
                return
        self.done = True
        processes.signal_pidfile(run_dir / GUNICORN_PID, signal.SIGTERM)
        self.stop_supervisord()


def _wait_refused(port: int, seconds: float) -> None:
    """Until 127.0.0.1:port refuses connections (nginx closed its listener), at most `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                pass
        except OSError:
            return
        time.sleep(0.01)


def start(
    settings: Settings,
    host: Optional[Host] = None,
    *,
    reload_code: bool = False,
    cleanup: bool = False,
    env: Optional[Mapping[str, str]] = None,
    guard: Optional[StopGuard] = None,
    prestart_group: Optional[int] = None,
) -> int:
    """Run the stack until it stops. `env` is what SIGHUP re-reads (default: os.environ);
    `prestart_group` holds what the prestart hook left running, ended when the stack stops."""
    try:
        return _start(settings, host or gather(), reload_code, cleanup, env, guard)
    finally:
        processes.end_group(prestart_group)


def _start(
    settings: Settings, host: Host, reload_code: bool, cleanup: bool, env: Optional[Mapping[str, str]], guard: Optional[StopGuard]
) -> int:
    host.require_nginx()
    check_port(settings.listen_port, host)
    runtime.check_workers_reach(settings, host)
    runtime.prepare(settings, host)
    other, _ = control.find_stack(settings.runtime_dir)
    if other is not None and other != os.getpid():
        raise SettingsError("RUNTIME_DIR", str(settings.runtime_dir), f"a directory no other stack runs from (pid {other} does)")
    # pid files a killed stack left behind name processes that are not ours any more: until nginx and
    # gunicorn write theirs, a reload or fast stop would signal them, and gunicorn refuses to start over a live one
    for stale in (NGINX_PID, GUNICORN_PID):
        try:
            os.unlink(settings.runtime_dir / stale)
        except FileNotFoundError:
            pass
    runfiles.clear(settings.runtime_dir / runfiles.REPORTS)  # what the workers said last time is not this start's
    secret = trust.new_secret()  # per start; readable by this user only, never in the environment
    paths = runtime.render_into(settings, host, secret=secret, reload=reload_code, output_pid=os.getpid())
    control.prepare_result(settings.runtime_dir)
    supervision = Supervision(settings, host, paths[render.SUPERVISORD_CONF], os.environ if env is None else env, guard)
    supervision.secret = secret  # kept across reloads
    supervision.hold_reloads()  # before the state file lets `reload` find us
    # what `reload` and `healthcheck` (run later through `docker exec`) need to find us, and recognise us by
    state = json.dumps({**settings.as_dict(), **control.identity()})
    private.write_private_files(settings.runtime_dir / STATE_FILE.parent, {STATE_FILE.name: state})
    say(
        f"serving {settings.app_module} on port {settings.listen_port} "
        f"({settings.workers} gunicorn workers, {settings.nginx_worker_processes} nginx workers; "
        f"configs in {settings.runtime_dir})"
    )
    try:
        return supervision.run()
    finally:
        if cleanup:
            shutil.rmtree(settings.runtime_dir, ignore_errors=True)


def running_state(runtime_dir: Path) -> Optional[Dict[str, Any]]:
    """The running stack's state; None without one. Raises control.StateError (one line) for a file it did not write."""
    try:
        found = control.read_json(runtime_dir / STATE_FILE)
    except OSError:
        return None
    return found[0] if found else None


def reload(env: Mapping[str, str], host: Host, secret: str) -> Settings:
    """Re-read the settings from `env` (files they depend on may have changed), re-render the
    configs and reload nginx and gunicorn without dropping requests.

    Raises when the configs cannot be written; then none of them changed and nothing is signalled.
    """
    current = settings.load(env, host=host)
    runtime.render_into(current, host, secret=secret, supervisord=False, output_pid=os.getpid())
    processes.signal_pidfile(current.runtime_dir / GUNICORN_PID, signal.SIGHUP)  # new workers; old ones finish gracefully
    processes.signal_pidfile(current.runtime_dir / NGINX_PID, signal.SIGHUP)
    return current
