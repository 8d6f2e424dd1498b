"""The gunicorn worker class the stack runs by default.

On top of aiohttp's own GunicornWebWorker:
- the event loop is uvloop's (when installed), created directly rather than
  through the event-loop-policy API that Python 3.14 deprecates;
- behind nginx on a unix socket, `request.remote` would be empty and
  `request.scheme` always http.  nginx sets X-Real-IP and X-Forwarded-Proto
  (overwriting whatever the client sent) together with this start's proof
  (see trust.py); the worker trusts those two headers only on its unix socket
  and only with the proof, which it removes before the app sees the request.
- the app is found by loader.py (run_app scripts, plain and async factories),
  and an app that fails to load is reported once for all workers, in one line
  that `aiohttp-nginx start` prints last.

aiohttp internals it relies on are each behind one small function below (their
unit tests name the attribute): a change upstream fails one clear test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple, Union

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from aiohttp.worker import GunicornWebWorker
from gunicorn.arbiter import Arbiter

from . import loader, runfiles, trust
from .say import say

try:
    import uvloop
except ImportError:  # pragma: no cover - Windows, or a platform without wheels
    uvloop = None  # type: ignore[assignment]

_WRAPPED = "_aiohttp_nginx_real_client"
RELOAD_POLL_SECONDS = 0.25
# bounded: a SIGTERM that came while this worker was still importing went to aiohttp's loop handler,
# which does not run here; the arbiter, asked by the reporting worker, stops well within it
HALT_WAIT_SECONDS = 3.0
# --reload: how long the cleanup of a failed start (the cleanup_ctx contexts it entered) may take
CLEANUP_AFTER_FAILED_START = 5.0
# a graceful stop first waits this long (at most) for nginx to close the worker's keep-alive connections
# (retire), taken from the graceful timeout: aiohttp's own shutdown gets that much less
RETIRE_SECONDS = 1.0
RETIRE_SHARE = 0.1
RETIRE_POLL_SECONDS = 0.02
APP_LOAD_ERROR = Arbiter.APP_LOAD_ERROR  # the exit status that makes gunicorn's arbiter stop ("App failed to load.")


# --- aiohttp's private attributes, one function each


def reified(request: web.BaseRequest) -> Dict[str, Any]:
    """aiohttp private: `BaseRequest._cache`, where `@reify` keeps `remote`, `scheme` and the like once computed."""
    return request._cache


def request_factory(app: web.Application) -> Callable[..., web.BaseRequest]:
    """aiohttp private: `Application._make_request`, which makes each request object the app's handlers see."""
    return app._make_request


def replace_request_factory(app: web.Application, factory: Callable[..., web.BaseRequest]) -> None:
    # object.__setattr__: aiohttp's debug mode warns about attributes it does not know
    object.__setattr__(app, "_make_request", factory)


def wake_serving_loop(worker: GunicornWebWorker) -> None:
    """aiohttp private: `GunicornWebWorker._notify_waiter_done` ends the serving loop's 1-second wait."""
    wake = getattr(worker, "_notify_waiter_done", None)
    if wake is not None:
        wake()


def apply_client_headers(request: web.BaseRequest, trusted: bool) -> web.BaseRequest:
    """Report nginx's view of the client: address and scheme - when nginx's proof came with them.

    Fills the values `request.remote` and `request.scheme` are cached under, as
    `request.clone(remote=..., scheme=...)` would, without copying the request.
    """
    if not trusted:
        return request  # the socket's own peer: a client never chooses these
    headers = request.headers
    remote = headers.get("X-Real-IP")
    if remote:
        reified(request)["remote"] = remote
    scheme = headers.get("X-Forwarded-Proto")
    if scheme in ("http", "https"):
        reified(request)["scheme"] = scheme
    return request


class Retirement:
    """Set once a stopping worker no longer accepts connections (Worker.retire): from then on each
    request on a connection it still holds is its last one, answered with `Connection: close`."""

    __slots__ = ("active",)

    def __init__(self) -> None:
        self.active = False


def last_on_its_connection(message: Any) -> Any:
    """The parsed request (aiohttp's RawRequestMessage), marked as the client's last on this connection:
    aiohttp then answers it with `Connection: close` and closes the connection after the response.
    A websocket handshake is left as it is: its connection ends with the websocket."""
    if message.should_close or message.upgrade:
        return message
    return message._replace(should_close=True)


class CompressedBody(web.Request):
    """A request whose body aiohttp would inflate (`Content-Encoding: gzip`, deflate, br, zstd) while
    COMPRESSED_REQUESTS=refuse: answered 413 before the app sees it (answer_readiness's handler).
    nginx's NGINX_MAX_UPLOAD counts the bytes on the wire; inflated, a 65 KB body became 64 MiB."""


COMPRESSED_REFUSED = "413 Content Too Large: a compressed request body (Content-Encoding) is refused\n"


def compressed_requests(env: Mapping[str, str]) -> str:
    """COMPRESSED_REQUESTS as the stack validated it: refuse, raw or inflate."""
    from .settings import BY_NAME

    var = BY_NAME["COMPRESSED_REQUESTS"]
    return str(var.parse(var.name, env.get(var.name) or var.default or ""))


def add_real_client(app: web.Application, secret: Optional[str] = None, retirement: Optional[Retirement] = None) -> web.Application:
    """Apply the headers as each request is made: unlike a middleware, this costs the app
    nothing when it has no middlewares of its own (aiohttp then skips the middleware chain).
    Without `secret` nothing is trusted."""
    if getattr(app, _WRAPPED, False):
        return app
    make_request = request_factory(app)
    retiring = retirement or Retirement()
    proof = trust.Proof(secret)
    refuse_compressed = compressed_requests(os.environ) == "refuse"

    def make_request_with_client(message: Any, *args: Any, **kwargs: Any) -> web.Request:
        message, trusted = proof.take(message)
        if retiring.active:
            message = last_on_its_connection(message)
        if refuse_compressed and message.compression:
            # the parser's own finding (aiohttp inflates exactly these): one attribute, no header lookup
            kwargs["_cls"] = CompressedBody
        return apply_client_headers(make_request(message, *args, **kwargs), trusted)  # type: ignore[return-value]

    replace_request_factory(app, make_request_with_client)
    object.__setattr__(app, _WRAPPED, True)
    answer_readiness(app, ready_path(os.environ))
    return app


def ready_path(env: Mapping[str, str]) -> str:
    """PROBE_PREFIX/readyz, as the stack (which validated PROBE_PREFIX before starting us) configured nginx."""
    from .settings import BY_NAME, probe_path

    var = BY_NAME["PROBE_PREFIX"]
    return probe_path(var.parse(var.name, env.get(var.name) or var.default or ""), "readyz")


def answer_readiness(app: web.Application, path: str) -> None:
    """nginx's readiness probe, proxied here, is answered by the worker before the app sees it:
    a 200 means a worker is alive and serving. It wraps aiohttp's private `Application._handle`
    (the handler `_make_handler` gives the server), as `_make_request` is wrapped above; the
    app's router and middlewares stay untouched."""
    handle = app._handle

    async def handle_or_answer_readiness(request: web.Request) -> web.StreamResponse:
        # nginx sends this fixed URI, never the client's spelling (nginx-probes.conf.j2): anything else is the app's
        if request.raw_path == path:
            return web.Response(text="ready\n")
        if request.__class__ is CompressedBody:
            refused = web.Response(status=413, text=COMPRESSED_REFUSED)
            refused.force_close()
            return refused
        return await handle(request)

    object.__setattr__(app, "_handle", handle_or_answer_readiness)


class CleanErrors(RequestHandler):
    """aiohttp's connection handler, answering the errors a client causes in one line each way.

    A request aiohttp's parser refuses (a control character in a header) got a 400 that echoed the
    offending header line back, and a traceback in the log; a Host that `request.url` cannot build
    (not UTF-8, a port beyond 65535) a 500 and a 55-line traceback. Both now get `400 Bad Request`
    and one log line naming no client byte. The app's own errors stay aiohttp's. Nothing here runs
    on a request that goes well (aiohttp calls handle_error only for an error).
    """

    __slots__ = ()

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: Optional[BaseException] = None, message: Optional[str] = None
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)  # too late for an answer of ours
        if status == 400 and isinstance(exc, HttpProcessingError):
            why = f"aiohttp's parser refused the request ({type(exc).__name__})"
        elif status == 500 and isinstance(exc, RequestPayloadError) and isinstance(exc.__cause__, ContentEncodingError):
            # COMPRESSED_REQUESTS=inflate: a body that does not inflate, raised where the app read it. The rest of
            # the body is not read after the answer either (aiohttp's lingering read would raise it again, with a
            # traceback): the stream is marked finished and the connection closes with the answer
            why = "its body does not decode as its Content-Encoding says"
            request.content.feed_eof()
        elif status == 500 and isinstance(exc, (UnicodeError, ValueError)) and not url_builds(request):
            why = "its Host header is not a host name request.url can be built from"
        else:
            return super().handle_error(request, status, exc, message)
        self.logger.warning("400 Bad Request: %s", why)
        answer = web.Response(status=400, text="400 Bad Request\n")
        answer.force_close()
        return answer


def url_builds(request: web.BaseRequest) -> bool:
    try:
        request.url  # noqa: B018 - reified: raises again as it did for the app
    except (UnicodeError, ValueError):
        return False
    return True


class NginxPeers:
    """Who may talk to gunicorn's socket when it is shared with nginx's workers' group (the stack runs
    as root): nginx's worker processes (children of this stack's nginx master), root, and this worker's
    own user. Any other process of NGINX_USER (a host's php-fpm, another site's nginx) could otherwise
    reach the app directly, past ALLOWED_HOSTS and the body limits. Checked once per connection
    (SO_PEERCRED); the parent (/proc/PID/stat) once per nginx worker: reading it for each of 5,000
    connections opened at once slowed accepting enough to overflow the socket's backlog (502s, CI).
    A worker pid stays believed until nginx's master changes; a process of that user could already
    ptrace nginx's workers (SECURITY.md, known limits), so remembering them opens nothing new."""

    WORKERS_REMEMBERED = 256  # nginx's workers, and the old ones of a few reloads

    def __init__(self, nginx_pid_file: Path) -> None:
        self.nginx_pid_file = nginx_pid_file
        self.master = 0
        self.workers: Set[int] = set()

    def allowed(self, sock: Any) -> Tuple[bool, int, int]:
        try:
            pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        except (OSError, AttributeError, struct.error):
            return False, -1, -1
        if uid in (0, os.geteuid()) or pid in self.workers:
            return True, pid, uid
        parent = parent_pid(pid)
        if parent != self.master:
            master = read_pid(self.nginx_pid_file)  # nginx started after this worker, or a new master
            if master != self.master:
                self.master, self.workers = master, set()
        if parent <= 0 or parent != self.master:
            return False, pid, uid
        if len(self.workers) >= self.WORKERS_REMEMBERED:
            self.workers.clear()
        self.workers.add(pid)
        return True, pid, uid


def parent_pid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def read_pid(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0


def shared_socket(path: str) -> bool:
    """Whether gunicorn's socket is open to a group other than this process's (root's stack: NGINX_USER's).

    Told by its directory (RUNTIME_DIR/run, set up before gunicorn starts): gunicorn chowns the socket to its
    own group first and waitfor.py hands it to the directory's group later, while workers may already boot."""
    try:
        info = os.stat(os.path.dirname(path))
    except OSError:
        return False
    return bool(info.st_mode & 0o010) and info.st_gid != os.getegid()


class NginxOnly(CleanErrors):
    """CleanErrors, closing at once a connection from a process NginxPeers does not allow."""

    __slots__ = ()
    peers: Optional[NginxPeers] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peers = self.peers
        if peers is None:
            return
        allowed, pid, uid = peers.allowed(transport.get_extra_info("socket"))
        if not allowed:
            self.logger.warning("refused a connection to gunicorn's socket from pid %d (uid %d): not one of nginx's workers", pid, uid)
            self.force_close()


class StackServer(web.Server):
    """aiohttp's Server, making our connection handler (aiohttp private: the handler class is fixed)."""

    handler_class: type = CleanErrors

    def __call__(self) -> RequestHandler:
        handler = super().__call__()
        handler.__class__ = self.handler_class  # same slots: a subclass that adds none
        return handler


class StackServing:
    """An AppRunner whose server makes our connection handler (aiohttp private: `AppRunner._make_server`)."""

    __slots__ = ()
    handler_class: type = CleanErrors

    async def _make_server(self) -> web.Server:
        server: web.Server = await super()._make_server()  # type: ignore[misc]
        server.__class__ = StackServer
        server.handler_class = self.handler_class  # type: ignore[attr-defined]
        return server


def serve_through_the_stack(runner: web.AppRunner, handler_class: type) -> None:
    """Before its setup, make an AppRunner (ours, or one the app's async factory returned) serve through
    `handler_class`: same class, plus StackServing (no new slots, so the object stays as it is)."""
    if runner.server is None and not isinstance(runner, StackServing):
        runner.__class__ = type(type(runner).__name__, (StackServing, type(runner)), {"__slots__": (), "handler_class": handler_class})


def handler_class_for(worker: GunicornWebWorker) -> type:
    """NginxOnly with this worker's NginxPeers when gunicorn's socket is shared with nginx's workers' group."""
    peers = getattr(worker, "_nginx_peers", None)
    if peers is None:
        return CleanErrors
    return type("NginxOnly", (NginxOnly,), {"__slots__": (), "peers": peers})


class Worker(GunicornWebWorker):
    """aiohttp worker with uvloop and nginx's client address."""

    # the AppRunner aiohttp's `_run` serves, when built here (behind nginx: _kept_runner)
    _runner: Optional[web.AppRunner] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # in gunicorn's arbiter, before the fork: as the stack's user
        self._take_what_root_has()

    def init_process(self) -> None:
        # taken before the app loads, so a save made while it loads is not missed
        self._watched = app_files(os.getcwd()) if self.cfg.reload else {}
        if uvloop is None:
            super().init_process()
            return
        self.loop = uvloop.new_event_loop()
        asyncio.set_event_loop(self.loop)
        # skip GunicornWebWorker.init_process, which would replace our loop
        super(GunicornWebWorker, self).init_process()

    def _take_what_root_has(self) -> None:
        """In the arbiter, before the worker switches to APP_USER (gunicorn_conf.py's post_fork): read this start's
        proof (RUNTIME_DIR/run, readable by the stack's user alone), see whether gunicorn's socket is open to nginx's
        workers' group (then NginxPeers guards it), and load what the worker imports later while the stack's user
        can read it (a Python under /root)."""
        from . import settings  # noqa: F401

        self._proof_secret: Optional[str] = None
        self._nginx_peers: Optional[NginxPeers] = None
        unix = [s for s in self.sockets if s.family == socket.AF_UNIX]
        if unix:
            path = unix[0].getsockname()
            self._proof_secret = trust.secret_beside(path)
            if shared_socket(path):
                # RUNTIME_DIR/run/gunicorn.sock: nginx's pid file is RUNTIME_DIR/nginx.pid (nginx.conf.j2's `pid`)
                self._nginx_peers = NginxPeers(Path(path).parent.parent / "nginx.pid")

    def load_wsgi(self) -> None:
        """Find the app (loader.py); one that fails to load stops the stack with its reason, said once.

        With --reload, it answers 500 with the error until a fix is saved instead: gunicorn does
        that only for a SyntaxError and with a WSGI error app, which an aiohttp worker cannot serve.
        """
        try:
            loaded = loader.load(getattr(self.app, "app_uri", None) or self.cfg.wsgi_app)
        except loader.LoadError as error:
            if not self._load_failed(error):
                sys.exit(self.exit_code)
            return
        run_dir = self._run_dir()
        if loaded.note and (run_dir is None or runfiles.claim(run_dir, runfiles.RUN_APP_NOTE)):
            say(loaded.note)
        self.wsgi: Any = loaded.target

    def _run_dir(self) -> Optional[Path]:
        """RUNTIME_DIR/reports, where the workers (APP_USER's) tell the stack something once; None when run without
        the stack (the stack keeps gunicorn's pid file in RUNTIME_DIR/run)."""
        return Path(self.cfg.pidfile).parent.parent / runfiles.REPORTS if self.cfg.pidfile else None

    def _load_failed(self, error: loader.LoadError) -> bool:
        """True when the worker goes on, serving the error (--reload); else the failure is reported
        and exit_code set (see _report_load_failure)."""
        shown = loader.app_traceback(error.cause) if error.cause is not None else ""
        if self.cfg.reload:
            self.log.error("the app failed to %s; it reloads when a fix is saved\n%s%s", error.stage, shown, error.line)
            self.wsgi = _error_app(error.stage, f"{shown}{error.line}")
            return True
        self._report_load_failure(error, shown)
        return False

    def _report_load_failure(self, error: loader.LoadError, shown: str) -> None:
        """The first worker to fail shows the app's traceback, leaves the one-line reason for the stack
        (which prints it last) and asks gunicorn's arbiter to stop; the others, failing the same way
        at the same moment, stay quiet. Then each waits for the arbiter's SIGTERM and leaves.

        Not through the exit status gunicorn halts on (APP_LOAD_ERROR): its arbiter raises HaltServer
        inside its SIGCHLD handler, and gunicorn < 24 (the python3.8/3.9 images) swallows one that lands
        while it forks a worker ("Exception ignored in: <function _releaseLock>"), then replaces failing
        workers forever (CI, python3.8). A SIGTERM it handles in its main loop. Without the stack (plain
        gunicorn with this worker class), gunicorn's own way stays.
        """
        run_dir = self._run_dir()
        if run_dir is None:
            self.exit_code = APP_LOAD_ERROR
            if shown:
                self.log.error("the app failed to %s:\n%s", error.stage, shown.rstrip("\n"))
            say(error.reason)
            return
        if runfiles.claim(run_dir, runfiles.LOAD_FAILURE, error.reason):
            if shown:
                self.log.error("the app failed to %s:\n%s", error.stage, shown.rstrip("\n"))
            self._stop_the_arbiter()
        if self._may_signal_the_arbiter():
            self._wait_for_the_halt()
        # else (APP_USER) the worker may not signal root's arbiter: it leaves now, and the arbiter, finding the
        # reason as the worker exits (gunicorn_conf.py's child_exit), stops itself
        self.exit_code = 0

    def _may_signal_the_arbiter(self) -> bool:
        try:
            os.kill(self.ppid, 0)
        except PermissionError:
            return False
        except OSError:
            pass
        return True

    def _stop_the_arbiter(self) -> None:
        if os.getppid() == self.ppid:
            try:
                os.kill(self.ppid, signal.SIGTERM)
            except OSError:
                pass

    def _wait_for_the_halt(self) -> None:
        """The arbiter is stopping: wait for its SIGTERM rather than exit now, which would have it fork
        replacements (that fail too) meanwhile. Asked again when it does not come (the first worker
        might have been killed before it asked).

        The worker's own handlers run in its event loop, which is not running here: a plain one instead.
        """
        stopped: List[int] = []
        signal.signal(signal.SIGTERM, lambda signum, frame: stopped.append(signum))
        deadline = time.monotonic() + HALT_WAIT_SECONDS
        while not stopped and os.getppid() == self.ppid and time.monotonic() < deadline:
            time.sleep(0.05)
        if not stopped:
            self.log.info("gunicorn has not stopped within %g s of the failed load: asking it again", HALT_WAIT_SECONDS)
            self._stop_the_arbiter()
        # leaving: a SIGTERM now (the arbiter's) must not kill the exiting worker by signal, which the
        # arbiter would log as an error ("Worker (pid:N) was sent SIGTERM!")
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def run(self) -> None:
        try:
            super().run()
        finally:
            # aiohttp's run() has closed the loop, which gave SIGTERM back its default action, and is leaving.
            # gunicorn < 24's arbiter sends an old worker SIGTERM again at each tick of a reload: one landing
            # now would kill the worker by signal, which the arbiter logs as an error ("Worker (pid:N) was
            # sent SIGTERM!") for a worker that was exiting anyway
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def handle_quit(self, sig: int, frame: Optional[FrameType]) -> None:
        # gunicorn sends QUIT/INT to workers only for a quick shutdown; aiohttp's
        # worker would still wait for in-flight requests, so leave at once
        self.cfg.worker_int(self)
        os._exit(0)

    def notify(self) -> None:
        super().notify()
        # aiohttp's serving loop calls this first once every site listens: from then on a stop can
        # retire (before, a site still starting would be missed by retire and keep accepting)
        self._serving = True
        if self.booted and not getattr(self, "_backlog_restored", False):
            restore_backlog(self.sockets, self.cfg.backlog)
            self._backlog_restored = True
        self._retire_after_max_requests()

    def _retire_after_max_requests(self) -> None:
        """MAX_REQUESTS: aiohttp's serving loop, right after this tick, would stop the worker as a SIGTERM
        does without retiring (closing idle keep-alive connections nginx may be reusing): retire instead."""
        runner = self._runner
        server = runner.server if runner is not None else None
        limit: int = self.max_requests  # type: ignore[has-type]  # gunicorn's, unannotated
        if not limit or server is None or server.requests_count <= limit:
            return
        if getattr(self, "_retiring", None) is None:
            self.log.info("Max requests, shutting down: %s", self)
            self._start_retiring(runner)  # type: ignore[arg-type]
        self.max_requests = 0  # aiohttp's loop checks it next; the retiring task ends the loop

    def _behind_nginx(self) -> bool:
        return bool(self.sockets) and all(s.family == socket.AF_UNIX for s in self.sockets)

    def handle_exit(self, sig: int, frame: Optional[FrameType]) -> None:
        retiring = getattr(self, "_retiring", None)
        if retiring is not None and not retiring.done():
            # gunicorn < 24's arbiter sends an old worker SIGTERM again at each tick of a reload: the
            # retirement already under way is bounded; SIGQUIT/SIGINT and the arbiter's SIGKILL still cut it
            return
        runner = self._runner
        if runner is None or not self.alive or not getattr(self, "_serving", False):
            super().handle_exit(sig, frame)
            self._stop_now()
            return
        # a graceful stop (SIGTERM: a reload's old worker, or the stack stopping): retire first. aiohttp's
        # own cleanup closes idle keep-alive connections at once, while nginx may be sending a request on
        # one of them ("writev() failed (32: Broken pipe) while sending request to upstream"); retired,
        # the connections are closed by nginx instead, or answered `Connection: close`.
        self._start_retiring(runner)

    def _start_retiring(self, runner: web.AppRunner) -> None:
        task = self.loop.create_task(self.retire(runner, retire_seconds(self.cfg.graceful_timeout)))
        task.add_done_callback(self._retired)
        self._retiring: Optional[asyncio.Task[None]] = task

    def _retired(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.warning("retiring before the stop failed, stopping at once: %r", task.exception())

    async def retire(self, runner: web.AppRunner, seconds: float) -> None:
        """Stop accepting, answer each further request on a held connection with `Connection: close`,
        and wait (at most `seconds`) for the connections to be closed from nginx's side; then stop
        as aiohttp does (its cleanup closes what is left and waits for requests in flight).

        nginx closes an idle pooled connection only when its own keep-alive timeout ends or its worker
        exits (as on a reload): a connection nginx leaves idle for the whole wait is closed by aiohttp's
        cleanup as before, which is rarely the moment nginx picks it. An open websocket holds its
        connection for the whole wait, so a stop with websockets sends their close frames that much later.
        """
        try:
            for site in list(runner.sites):
                await site.stop()  # new connections go to the other workers (a reload's new ones)
            self._retirement.active = True
            server = runner.server
            deadline = self.loop.time() + seconds
            while server is not None and server.connections and self.loop.time() < deadline:
                await asyncio.sleep(RETIRE_POLL_SECONDS)
        finally:
            self.alive = False
            self._stop_now()

    def _stop_now(self) -> None:
        # start stopping now rather than at the serving loop's next 1-second tick
        self.alive = False
        wake_serving_loop(self)

    async def _run(self) -> None:
        """Extends aiohttp's private `GunicornWebWorker._run` (the worker's whole life in its loop):
        an async factory is awaited here first, so that one that raises is a failed load."""
        # the event loop's server owns the listener from here on (see listening_socket)
        self.sockets: List[Any] = [listening_socket(s) for s in self.sockets]
        if not isinstance(self.wsgi, web.Application):
            try:
                made = await loader.made_by(self.wsgi)
            except loader.LoadError as error:
                if not self._load_failed(error):
                    return  # through aiohttp's run(), which closes the loop and exits with exit_code
            else:
                self.wsgi = made if isinstance(made, web.Application) else _returning(made)
        self._wrap_for_nginx()
        watcher = self.loop.create_task(self._reload_on_change(os.getcwd())) if self.cfg.reload else None
        try:
            await self._start_and_serve()
        finally:
            if watcher is not None:
                watcher.cancel()
            retiring = getattr(self, "_retiring", None)
            if retiring is not None and not retiring.done():
                retiring.cancel()  # stopped another way (SIGQUIT): the loop closes next, with no task left
                await asyncio.gather(retiring, return_exceptions=True)

    def _wrap_for_nginx(self) -> None:
        """Behind nginx's unix socket: trust its proof of the client address, and keep the runner."""
        if self._behind_nginx():
            self._retirement = Retirement()
            # read before APP_USER's privileges (init_process); the socket's directory is the stack user's alone
            secret = getattr(self, "_proof_secret", None) or trust.secret_beside(self.sockets[0].getsockname())
            self.wsgi = self._kept_runner(_wrap(self.wsgi, secret, self._retirement))

    async def _start_and_serve(self) -> None:
        """aiohttp's `_run`; an app whose startup (on_startup, cleanup_ctx) raises before the worker
        serves is a failed start, said once like a failed load, not gunicorn's traceback per worker
        and "gunicorn exited unexpectedly"."""
        try:
            await super()._run()
            return
        except Exception as exc:  # noqa: BLE001 - the app's own error, shown with its traceback
            if not self._starting_failed():
                raise
            error = loader.LoadError(loader.summary(exc, fallback="the app's startup"), exc, stage="start")
        if not self._load_failed(error):
            return  # through aiohttp's run(), which closes the loop and exits with exit_code
        # --reload: what the failed startup entered (cleanup_ctx, background tasks) is cleaned up, then
        # the error is served until a fix is saved
        await self._clean_up_after_failed_start()
        self._wrap_for_nginx()
        await super()._run()

    def _starting_failed(self) -> bool:
        """Whether the exception that ended aiohttp's `_run` came from the app's startup: the worker
        never served, was not told to stop meanwhile (then it came from the cleanup), and the runner,
        where known, has no server yet (AppRunner.setup sets it once the app's startup succeeded)."""
        if getattr(self, "_serving", False) or not self.alive:
            return False
        runner = self._runner
        return runner is None or runner.server is None

    async def _clean_up_after_failed_start(self) -> None:
        runner = self._runner
        if runner is None:
            return
        try:
            await asyncio.wait_for(runner.app.cleanup(), CLEANUP_AFTER_FAILED_START)
        except Exception:  # noqa: BLE001 - a cleanup that fails too: the error page matters more
            self.log.exception("cleaning up after the failed start failed too")
        self._runner = None

    def _kept_runner(self, target: Union[web.Application, loader.Factory]) -> loader.Factory:
        """Hand aiohttp's `_run` the AppRunner it would build itself, through the async-factory form it
        accepts, and keep it: a graceful stop (retire) needs the runner's sites and connections."""

        async def factory() -> web.AppRunner:
            made = target if isinstance(target, web.Application) else await target()
            runner = made if isinstance(made, web.AppRunner) else aiohttp_runner(self, made)
            serve_through_the_stack(runner, handler_class_for(self))  # the app's own runner too (ours already is)
            self._runner = runner
            return runner

        return factory

    async def _reload_on_change(self, root: str) -> None:
        """--reload: replace this worker as soon as a .py file of the app changes.

        gunicorn's own reloader notices a change only at the serving loop's next
        1-second tick, and snapshots the files after the app has loaded, so a
        save made while a worker starts would go unseen.
        """
        while self.alive:
            await asyncio.sleep(RELOAD_POLL_SECONDS)
            current = await self.loop.run_in_executor(None, app_files, root)
            if current != self._watched:
                changed = sorted(set(current.items()) ^ set(self._watched.items()))
                self.log.info("reloading: %s changed", changed[0][0] if changed else root)
                self._stop_now()
                return


def restore_backlog(sockets: List[Any], backlog: int) -> None:
    """Listen again with gunicorn's `backlog` (BACKLOG), once the app's sites listen.

    aiohttp's worker serves each listener through a SockSite, which listens again with its own
    default backlog of 128 - so hundreds of nginx connections opened together overflowed the
    unix socket's queue (nginx: "connect() ... failed (11: Resource temporarily unavailable)").
    listen() on a listening socket only changes its backlog. Called from notify(), which aiohttp's
    worker calls first right after its sites start.
    """
    for sock in sockets:
        sock.listen(backlog)


def listening_socket(listener: Any) -> Any:
    """The plain socket inside gunicorn's listener wrapper.

    Given a socket, uvloop's server closes its descriptor itself, then calls the object's
    close() and ignores the EBADF that follows. Handed gunicorn's wrapper, that close() is
    gunicorn's, which logs the EBADF as "Error while closing socket [Errno 9]" at every
    worker exit. `sock` is the wrapper's public attribute holding the socket.
    """
    inner = getattr(listener, "sock", None)
    return inner if isinstance(inner, socket.socket) else listener


def app_files(root: str, limit: int = 10000) -> Dict[str, int]:
    """The modification time of each .py file under the app directory: what --reload watches."""
    found: Dict[str, int] = {}
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".") and d not in ("__pycache__", "node_modules")]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                try:
                    found[path] = os.stat(path).st_mtime_ns
                except OSError:
                    continue
                if len(found) >= limit:
                    return found
    return found


def _error_app(stage: str, text: str) -> web.Application:
    async def show(request: web.Request) -> web.Response:
        return web.Response(status=500, text=f"The app failed to {stage}; save a fix and it reloads.\n\n{text}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", show)
    return app


def _returning(runner: web.AppRunner) -> loader.Factory:
    # aiohttp's worker serves an Application, or what an async function returns
    async def factory() -> web.AppRunner:
        return runner

    return factory


def aiohttp_runner(worker: GunicornWebWorker, app: web.Application) -> web.AppRunner:
    """The AppRunner aiohttp's `GunicornWebWorker._run` builds for an Application, with the same arguments
    (its private `_get_valid_log_format` included, as aiohttp's own worker calls it)."""
    runner = web.AppRunner(
        app,
        # COMPRESSED_REQUESTS: aiohttp inflates request bodies only when told to (refused ones are never read)
        auto_decompress=compressed_requests(os.environ) == "inflate",
        logger=worker.log,
        keepalive_timeout=worker.cfg.keepalive,
        access_log=worker.log.access_log if worker.cfg.accesslog else None,
        access_log_format=worker._get_valid_log_format(worker.cfg.access_log_format),
        # less the time a graceful stop first retires for (aiohttp: 95 % of it), so both fit in gunicorn's
        # graceful timeout, after which the arbiter kills the worker
        shutdown_timeout=worker.cfg.graceful_timeout / 100 * 95 - retire_seconds(worker.cfg.graceful_timeout),
    )
    serve_through_the_stack(runner, handler_class_for(worker))
    return runner


def retire_seconds(graceful_timeout: float) -> float:
    return min(RETIRE_SECONDS, graceful_timeout * RETIRE_SHARE)


def _wrap(
    target: Union[web.Application, loader.Factory], secret: Optional[str] = None, retirement: Optional[Retirement] = None
) -> Union[web.Application, loader.Factory]:
    """Add the client hook to an app, or to the AppRunner an async function returns."""
    if isinstance(target, web.Application):
        return add_real_client(target, secret, retirement)

    async def factory() -> Any:
        made = await target()
        add_real_client(made.app if isinstance(made, web.AppRunner) else made, secret, retirement)
        return made

    return factory
