"""The default worker: the app sees nginx's client address and scheme, not the unix socket's."""

from __future__ import annotations

import asyncio
import inspect
import socket
from typing import Any, Dict, List, Optional

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from aiohttp_nginx_base import trust, worker
from aiohttp_nginx_base.worker import Worker, add_real_client, apply_client_headers


class _Transport:
    """Just enough of a transport for make_mocked_request: a peer address, no TLS."""

    def __init__(self, peer: Optional[Any]) -> None:
        self.peer = peer

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default


def seen_by_the_app(headers: Dict[str, str], peer: Optional[Any] = ("192.0.2.10", 40000), trusted: bool = True) -> Dict[str, Any]:
    """What a handler sees of a request with these headers once the worker has applied them."""
    request = make_mocked_request("GET", "/path?q=1", headers={"Host": "example.com", **headers}, transport=_Transport(peer))
    r = apply_client_headers(request, trusted)
    return {"remote": r.remote, "scheme": r.scheme, "url": str(r.url), "secure": r.secure, "host": r.host}


def test_x_real_ip_and_x_forwarded_proto_become_remote_and_scheme() -> None:
    seen = seen_by_the_app({"X-Real-IP": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert seen["remote"] == "203.0.113.7"
    assert seen["scheme"] == "https"
    assert seen["secure"] is True
    assert seen["url"] == "https://example.com/path?q=1"


def test_without_the_headers_the_request_is_unchanged() -> None:
    seen = seen_by_the_app({})
    assert seen == {"remote": "192.0.2.10", "scheme": "http", "url": "http://example.com/path?q=1", "secure": False, "host": "example.com"}


def test_without_the_headers_a_unix_socket_peer_stays_as_aiohttp_reports_it() -> None:
    assert seen_by_the_app({}, peer=None)["remote"] is None


def test_x_real_ip_alone_keeps_the_scheme() -> None:
    seen = seen_by_the_app({"X-Real-IP": "2001:db8::1"})
    assert (seen["remote"], seen["scheme"]) == ("2001:db8::1", "http")


def test_x_forwarded_proto_alone_keeps_the_remote() -> None:
    seen = seen_by_the_app({"X-Forwarded-Proto": "https"})
    assert (seen["remote"], seen["scheme"], seen["url"]) == ("192.0.2.10", "https", "https://example.com/path?q=1")


@pytest.mark.parametrize("proto", ["ftp", "javascript", ""])
def test_an_unknown_forwarded_proto_is_ignored(proto: str) -> None:
    seen = seen_by_the_app({"X-Forwarded-Proto": proto})
    assert seen["scheme"] == "http"
    assert seen["url"].startswith("http://")


def test_an_empty_x_real_ip_is_ignored() -> None:
    assert seen_by_the_app({"X-Real-IP": ""})["remote"] == "192.0.2.10"


def test_without_nginxs_proof_the_headers_are_ignored() -> None:
    seen = seen_by_the_app({"X-Real-IP": "203.0.113.7", "X-Forwarded-Proto": "https"}, trusted=False)
    assert (seen["remote"], seen["scheme"]) == ("192.0.2.10", "http")


SECRET = "s3cret-of-this-start"


def _served(requests: List[Dict[str, str]], secret: Optional[str] = SECRET) -> List[Dict[str, Any]]:
    """What a real aiohttp server with the worker's hook tells its handler, for each request's headers."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "remote": request.remote,
                "scheme": request.scheme,
                "url": str(request.url),
                "forwarded": [dict(f) for f in request.forwarded],
                "headers": sorted(k.lower() for k in request.headers),
                "raw": sorted(k.decode().lower() for k, _ in request.raw_headers),
            }
        )

    async def go() -> List[Dict[str, Any]]:
        app = add_real_client(web.Application(), secret)
        app.router.add_get("/who", handler)
        async with TestClient(TestServer(app)) as client:
            return [await (await client.get("/who", headers=headers)).json() for headers in requests]

    return asyncio.run(go())


def test_a_real_server_with_the_worker_hook_reports_nginxs_view() -> None:
    proof = {trust.PROOF_HEADER: SECRET}
    forwarded, direct = _served([{"X-Real-IP": "198.51.100.4", "X-Forwarded-Proto": "https", **proof}, {}])
    assert forwarded["remote"] == "198.51.100.4"
    assert forwarded["scheme"] == "https"
    assert forwarded["url"].startswith("https://")
    assert direct["remote"] == "127.0.0.1"
    assert direct["scheme"] == "http"


def test_the_proof_never_reaches_the_app() -> None:
    (seen,) = _served([{trust.PROOF_HEADER: SECRET, "Forwarded": "for=192.0.2.1"}])
    assert trust.PROOF_HEADER.lower() not in seen["headers"] + seen["raw"]
    assert seen["forwarded"] == [{"for": "192.0.2.1"}]  # nginx's own, kept


@pytest.mark.parametrize("proof", [None, "", "wrong", SECRET + "x", "s3cret-of-this-st\u00e4rt"])
def test_a_missing_or_wrong_proof_trusts_nothing_and_drops_forwarded(proof: Optional[str]) -> None:
    headers = {"X-Real-IP": "6.6.6.6", "X-Forwarded-Proto": "https", "Forwarded": "for=6.6.6.6;proto=https"}
    if proof is not None:
        headers[trust.PROOF_HEADER] = proof
    (seen,) = _served([headers])
    assert (seen["remote"], seen["scheme"], seen["forwarded"]) == ("127.0.0.1", "http", [])
    assert trust.PROOF_HEADER.lower() not in seen["headers"] + seen["raw"]
    assert "forwarded" not in seen["raw"]


def test_without_a_secret_even_a_matching_looking_proof_is_refused() -> None:
    (seen,) = _served([{"X-Real-IP": "6.6.6.6", trust.PROOF_HEADER: ""}], secret=None)
    assert seen["remote"] == "127.0.0.1"


def test_add_real_client_wraps_the_request_factory_once_and_adds_no_middleware() -> None:
    app = web.Application()
    add_real_client(app)
    wrapped = app._make_request
    add_real_client(app)
    assert app._make_request is wrapped
    assert list(app.middlewares) == []


def test_wrap_covers_an_app_and_what_a_factory_returns() -> None:
    app = web.Application()
    assert worker._wrap(app) is app
    assert getattr(app, worker._WRAPPED)

    made = web.Application()

    async def create_app() -> web.Application:
        return made

    factory = worker._wrap(create_app)
    assert not isinstance(factory, web.Application)
    assert asyncio.run(factory()) is made
    assert getattr(made, worker._WRAPPED)


def test_wrap_covers_the_app_of_a_runner() -> None:
    runner = web.AppRunner(web.Application())
    factory = worker._wrap(worker._returning(runner))
    assert not isinstance(factory, web.Application)
    assert asyncio.run(factory()) is runner
    assert getattr(runner.app, worker._WRAPPED)


# --- aiohttp's private attributes the worker relies on: each test names one, so an upstream change fails here


def test_aiohttp_private_request_cache_holds_remote_and_scheme() -> None:
    request = make_mocked_request("GET", "/", transport=_Transport(("192.0.2.1", 1)))
    cache = worker.reified(request)
    assert cache is request._cache
    cache["remote"], cache["scheme"] = "203.0.113.9", "https"
    assert (request.remote, request.scheme) == ("203.0.113.9", "https")


def test_aiohttp_private_application_make_request_is_the_request_factory() -> None:
    app = web.Application()
    original = app._make_request
    assert worker.request_factory(app) == original
    assert callable(original)

    def replacement(*args: Any, **kwargs: Any) -> web.BaseRequest:
        return original(*args, **kwargs)

    worker.replace_request_factory(app, replacement)
    assert app._make_request is replacement


def test_aiohttp_private_gunicorn_worker_run_and_notify_waiter_done_exist() -> None:
    from aiohttp.worker import GunicornWebWorker

    # Worker._run extends aiohttp's; run() must still drive it
    assert inspect.iscoroutinefunction(GunicornWebWorker._run)
    assert "self._run()" in inspect.getsource(GunicornWebWorker.run)
    # the serving loop's waiter: wake_serving_loop() calls it to stop without its 1-second wait
    assert "_notify_waiter_done" in vars(GunicornWebWorker)
    called = []
    w = Worker.__new__(Worker)
    w._notify_waiter_done = lambda: called.append(True)  # type: ignore[method-assign]
    worker.wake_serving_loop(w)
    assert called == [True]


def test_aiohttp_worker_exit_code_is_what_run_exits_with() -> None:
    from aiohttp.worker import GunicornWebWorker

    # a failed async factory leaves through run() with exit_code = APP_LOAD_ERROR
    assert "sys.exit(self.exit_code)" in inspect.getsource(GunicornWebWorker.run)
    assert worker.APP_LOAD_ERROR == 4


def _worker_on(*sockets: socket.socket) -> Worker:
    w = Worker.__new__(Worker)  # only the listening sockets matter here
    w.sockets = list(sockets)
    return w


def test_the_headers_are_trusted_only_on_nginxs_unix_socket() -> None:
    with socket.socket(socket.AF_UNIX) as unix, socket.socket(socket.AF_INET) as tcp:
        assert _worker_on(unix)._behind_nginx() is True
        assert _worker_on(tcp)._behind_nginx() is False  # a client could forge X-Real-IP
        assert _worker_on(unix, tcp)._behind_nginx() is False
        assert _worker_on()._behind_nginx() is False


def test_the_secret_is_read_beside_gunicorns_socket_and_missing_means_none(tmp_path) -> None:
    sock = tmp_path / "gunicorn.sock"
    assert trust.secret_beside(str(sock)) is None
    (tmp_path / trust.SECRET_NAME).write_text("abc\n")
    assert trust.secret_beside(str(sock)) == "abc"


# --- the listener handed to the event loop (issue 13: "[Errno 9]" at every worker exit)


class _Log:
    def __init__(self) -> None:
        self.lines: list = []

    def info(self, message: str, *args: Any) -> None:
        self.lines.append(message % args)


def _close_served_listener(tmp_path: Any, unwrap: bool) -> list:
    """Serve gunicorn's real unix listener on uvloop, close the server as aiohttp's site.stop() does;
    what gunicorn logged."""
    import uvloop
    from gunicorn.config import Config
    from gunicorn.sock import UnixSocket

    log = _Log()
    wrapper = UnixSocket(str(tmp_path / "g.sock"), Config(), log)
    listener = worker.listening_socket(wrapper) if unwrap else wrapper

    async def serve_and_close() -> None:
        server = await asyncio.get_running_loop().create_unix_server(asyncio.Protocol, sock=listener)
        server.close()
        await server.wait_closed()

    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(serve_and_close())
    finally:
        loop.close()
    return log.lines


def test_listening_socket_is_the_socket_inside_gunicorns_wrapper(tmp_path: Any) -> None:
    from gunicorn.config import Config
    from gunicorn.sock import UnixSocket

    wrapper = UnixSocket(str(tmp_path / "g.sock"), Config(), _Log())
    inner = worker.listening_socket(wrapper)
    assert inner is wrapper.sock  # the attribute this depends on
    assert type(inner) is socket.socket
    assert worker.listening_socket(inner) is inner


def test_gunicorns_wrapper_on_uvloop_logs_errno_9_at_close(tmp_path: Any) -> None:
    """What happened before: uvloop closes the descriptor, then the wrapper's close() logs EBADF."""
    assert any("Errno 9" in line for line in _close_served_listener(tmp_path, unwrap=False))


def test_the_unwrapped_listener_closes_quietly_on_uvloop(tmp_path: Any) -> None:
    assert _close_served_listener(tmp_path, unwrap=True) == []


# --- retiring: a graceful stop lets nginx close the keep-alive connections (issue 13, quiet logs)


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> Dict[str, str]:
    """One keep-alive request on a held connection; the response's headers (lower-cased names)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{trust.PROOF_HEADER}: {SECRET}\r\n\r\n".encode())
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
    await reader.readexactly(int(headers["content-length"]))
    return headers


def _retiring_server(tmp_path: Any) -> Any:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    retirement = worker.Retirement()
    app = add_real_client(web.Application(), SECRET, retirement)
    app.router.add_get("/", hello)
    return app, retirement, str(tmp_path / "s.sock")


def test_once_retiring_each_request_is_the_last_on_its_connection(tmp_path: Any) -> None:
    app, retirement, path = _retiring_server(tmp_path)

    async def go() -> List[Any]:
        runner = web.AppRunner(app)
        await runner.setup()
        await web.UnixSite(runner, path).start()
        try:
            reader, writer = await asyncio.open_unix_connection(path)
            before = await _exchange(reader, writer, "/")
            retirement.active = True
            after = await _exchange(reader, writer, "/")
            closed = await asyncio.wait_for(reader.read(), 10)  # the worker closes once it answered
            writer.close()
            return [before.get("connection"), after.get("connection"), closed]
        finally:
            await runner.cleanup()

    assert asyncio.run(go()) == [None, "close", b""]


def test_a_websocket_handshake_is_not_marked_last() -> None:
    message = make_mocked_request("GET", "/", headers={"Upgrade": "websocket", "Connection": "Upgrade"})._message
    assert message.upgrade
    assert worker.last_on_its_connection(message) is message
    plain = make_mocked_request("GET", "/")._message
    assert worker.last_on_its_connection(plain).should_close is True


def test_retire_stops_accepting_and_returns_once_nginx_closed_the_connections(tmp_path: Any) -> None:
    """The attack is a race, so it is shown by its parts: the listener goes at once, a held connection
    still serves its request (answered `Connection: close`), and retire ends when the peer has closed,
    long before its bound."""
    app, retirement, path = _retiring_server(tmp_path)
    stopped: List[bool] = []
    w = Worker.__new__(Worker)
    w._retirement = retirement
    w.alive = True
    w._stop_now = lambda: stopped.append(True)  # type: ignore[method-assign]

    async def go() -> List[Any]:
        w.loop = asyncio.get_running_loop()
        runner = web.AppRunner(app)
        await runner.setup()
        await web.UnixSite(runner, path).start()
        try:
            reader, writer = await asyncio.open_unix_connection(path)
            await _exchange(reader, writer, "/")
            retiring = asyncio.ensure_future(w.retire(runner, 60))
            await asyncio.sleep(0)  # let retire stop the site
            while not retirement.active:
                await asyncio.sleep(0.01)
            try:
                await asyncio.open_unix_connection(path)
                refused = False
            except OSError:
                refused = True
            last = await _exchange(reader, writer, "/")
            await asyncio.wait_for(reader.read(), 10)
            writer.close()
            await asyncio.wait_for(retiring, 10)  # not the 60 s bound: the connection is gone
            return [refused, last.get("connection"), runner.server.connections if runner.server else None]
        finally:
            await runner.cleanup()

    assert asyncio.run(go()) == [True, "close", []]
    assert stopped == [True] and w.alive is False


def test_retiring_takes_its_time_from_the_graceful_timeout() -> None:
    assert worker.retire_seconds(30) == 1.0
    assert worker.retire_seconds(8) == pytest.approx(0.8)
    assert worker.retire_seconds(2) == pytest.approx(0.2)


def _bare_worker() -> Worker:
    w = Worker.__new__(Worker)
    w.alive = True
    w._notify_waiter = None
    return w


def test_a_sigterm_during_retirement_does_not_cut_it_short() -> None:
    """gunicorn < 24 (the python3.8/3.9 images) sends an old worker SIGTERM again at each arbiter tick of a reload."""
    w = _bare_worker()

    async def go() -> bool:
        w._retiring = asyncio.get_running_loop().create_future()  # type: ignore[assignment]
        w.handle_exit(15, None)
        w._retiring.cancel()  # type: ignore[union-attr]
        return w.alive

    assert asyncio.run(go()) is True


def test_a_sigterm_before_the_worker_serves_stops_it_at_once() -> None:
    """Before aiohttp's loop first calls notify(), a site may still be starting: retire would miss it."""
    w = _bare_worker()
    w._runner = web.AppRunner(web.Application())
    w.handle_exit(15, None)
    assert w.alive is False and getattr(w, "_retiring", None) is None


def test_after_run_a_late_sigterm_cannot_kill_the_exiting_worker() -> None:
    """aiohttp's run() closes the loop (SIGTERM back to its default action) before the process exits; gunicorn
    < 24 may send SIGTERM again then, and a worker killed by it is logged as an error by the arbiter."""
    import signal

    w = _bare_worker()
    w.loop = asyncio.new_event_loop()
    w.exit_code = 0

    async def served() -> None:
        return None

    w._run = served  # type: ignore[method-assign]
    before = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit):
            w.run()
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before)


def _started(app: web.Application) -> web.AppRunner:
    runner = web.AppRunner(app)

    async def setup() -> None:
        await runner.setup()

    asyncio.run(setup())
    return runner


def test_only_an_error_of_the_apps_startup_is_a_failed_start() -> None:
    w = _bare_worker()
    assert w._starting_failed()  # nothing served yet, not told to stop, no runner known: the startup raised
    w._runner = web.AppRunner(web.Application())  # built, and its setup (the app's startup) did not finish
    assert w._starting_failed()


def test_an_error_once_the_startup_succeeded_or_during_a_stop_is_not_a_failed_start() -> None:
    # the attack on availability: a SIGTERM during a slow on_startup (a reload's second signal) skips the serving
    # loop, and an on_cleanup that then raises would have been reported as a failed start, halting the stack
    w = _bare_worker()
    w._runner = _started(web.Application())  # its server exists: the app's startup succeeded
    assert not w._starting_failed()
    w = _bare_worker()
    w.alive = False  # told to stop
    assert not w._starting_failed()
    w = _bare_worker()
    w._serving = True
    assert not w._starting_failed()


def test_reload_mode_cleans_up_what_a_failed_start_entered() -> None:
    cleaned: List[str] = []

    async def pool(app: web.Application) -> Any:
        yield
        cleaned.append("pool closed")

    async def fail(app: web.Application) -> Any:
        raise ConnectionRefusedError("database:5432")
        yield

    app = web.Application()
    app.cleanup_ctx.extend([pool, fail])
    w = _bare_worker()
    w._runner = web.AppRunner(app)

    async def go() -> None:
        with pytest.raises(ConnectionRefusedError):
            await w._runner.setup()  # type: ignore[union-attr]
        await w._clean_up_after_failed_start()

    asyncio.run(go())
    assert cleaned == ["pool closed"] and w._runner is None


# An arbiter process and one of its workers that could not load the app and waits for the halt.
HALT_SCENARIO = """
import os, signal, sys, time
from gunicorn.config import Config
from gunicorn.glogging import Logger
from aiohttp_nginx_base import worker

told = []
signal.signal(signal.SIGTERM, lambda signum, frame: told.append(signum))
child = os.fork()
if child == 0:
    w = worker.Worker.__new__(worker.Worker)
    w.ppid, w.log = os.getppid(), Logger(Config())
    worker.HALT_WAIT_SECONDS = 1.0
    w._wait_for_the_halt()
    os._exit(0)
if sys.argv[1] == "halts":
    time.sleep(0.2)  # the arbiter halts as it should: it tells its workers to stop
    os.kill(child, signal.SIGTERM)
os.waitpid(child, 0)
deadline = time.monotonic() + 1
while not told and time.monotonic() < deadline:
    time.sleep(0.01)
print("arbiter told to stop" if told else "arbiter not told")
"""


@pytest.mark.parametrize("arbiter, expected", [("halts", "arbiter not told"), ("lost-the-halt", "arbiter told to stop")])
def test_a_worker_waiting_for_a_halt_that_never_comes_stops_the_arbiter(arbiter: str, expected: str) -> None:
    # gunicorn < 24 raises HaltServer in its SIGCHLD handler; one landing while it forks is swallowed, and the
    # arbiter replaced failing workers forever: a container whose app failed to load never stopped (CI, python3.8)
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", HALT_SCENARIO, arbiter], capture_output=True, text=True, timeout=30)
    assert result.stdout.strip() == expected, result.stderr


# --- issue 20: compressed bodies, errors a client causes, who may use gunicorn's socket


def test_aiohttp_private_app_runner_make_server_and_request_handler_slots() -> None:
    from aiohttp.web_protocol import RequestHandler

    assert inspect.iscoroutinefunction(web.AppRunner._make_server)
    assert "_cls" in inspect.signature(web.Application._make_request).parameters
    assert hasattr(RequestHandler, "__slots__") and "handle_error" in vars(RequestHandler)


def _stack_served(raw: bytes, env: Optional[Dict[str, str]] = None) -> bytes:
    """One raw exchange with an app behind the worker's own runner (StackRunner, the request hook)."""
    import os

    async def upload(request: web.Request) -> web.Response:
        return web.Response(text=str(len(await request.read())))

    async def url(request: web.Request) -> web.Response:
        return web.Response(text=str(request.url))

    async def main() -> bytes:
        app = web.Application()
        app.router.add_post("/upload", upload)
        app.router.add_get("/url", url)
        add_real_client(app, SECRET)
        fake = type("W", (), {})()
        fake.log = __import__("logging").getLogger("test")
        fake.cfg = type("C", (), {"keepalive": 5, "accesslog": None, "access_log_format": "", "graceful_timeout": 8})()
        fake.sockets = []
        fake._get_valid_log_format = lambda f: f
        runner = worker.aiohttp_runner(fake, app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            answer = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            return answer
        finally:
            await runner.cleanup()

    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        return asyncio.run(main())
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _post_gzip(inflated: int) -> bytes:
    import gzip

    body = gzip.compress(b"\0" * inflated)
    return (
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )


def test_a_compressed_body_is_answered_413_by_default() -> None:
    answer = _stack_served(_post_gzip(100000))
    assert answer.startswith(b"HTTP/1.1 413") and answer.endswith(worker.COMPRESSED_REFUSED.encode()), answer


def test_compressed_requests_raw_passes_the_bytes_as_sent_and_inflate_inflates() -> None:
    raw = _post_gzip(100000)
    assert _stack_served(raw, {"COMPRESSED_REQUESTS": "raw"}).endswith(b"\r\n\r\n" + str(len(raw.partition(b"\r\n\r\n")[2])).encode())
    assert _stack_served(raw, {"COMPRESSED_REQUESTS": "inflate"}).endswith(b"\r\n\r\n100000")


def test_with_inflate_a_body_that_does_not_inflate_gets_a_one_line_400(caplog: Any) -> None:
    # the attack (review of issue 20): a corrupt gzip body made aiohttp answer 500 with an 85-line traceback
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 20\r\nConnection: close\r\n\r\n"
    raw = head + b"not-gzip-at-all-xxxx"
    answer = _stack_served(raw, {"COMPRESSED_REQUESTS": "inflate"})
    assert answer.startswith(b"HTTP/1.1 400") and answer.endswith(b"\r\n\r\n400 Bad Request\n"), answer
    records = [r for r in caplog.records if r.name == "test"]
    said = "400 Bad Request: its body does not decode as its Content-Encoding says"
    assert [(r.getMessage(), r.exc_info) for r in records] == [(said, None)]


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /url HTTP/1.1\r\nHost: x\r\nX-Marker: a\x01secret\r\n\r\n",
        b"GET /url HTTP/1.1\r\nHost: exa\xffmple.com\r\nConnection: close\r\n\r\n",
    ],
    ids=["control-character", "host-not-utf-8"],
)
def test_a_request_a_client_malformed_gets_a_one_line_400(raw: bytes, caplog: Any) -> None:
    answer = _stack_served(raw)
    assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.0 400")) and answer.endswith(b"\r\n\r\n400 Bad Request\n"), answer
    records = [r for r in caplog.records if r.name == "test"]
    assert [r.getMessage().startswith("400 Bad Request: ") and r.exc_info is None for r in records] == [True]


def test_nginx_peers_allows_its_own_user_and_refuses_an_unknown_process(tmp_path: Any) -> None:
    import os

    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        assert worker.NginxPeers(tmp_path / "nginx.pid").allowed(left)[0]  # this process: our own uid
    assert worker.parent_pid(os.getpid()) == os.getppid()
    assert worker.parent_pid(0) == 0 and worker.read_pid(tmp_path / "missing") == 0
    assert worker.NginxPeers(tmp_path / "nginx.pid").allowed(object()) == (False, -1, -1)


def test_a_socket_shared_with_another_group_is_detected(tmp_path: Any) -> None:
    import os

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run_dir.chmod(0o700)
    assert not worker.shared_socket(str(run_dir / "gunicorn.sock")) and not worker.shared_socket(str(tmp_path / "missing" / "sock"))
    run_dir.chmod(0o750)
    assert worker.shared_socket(str(run_dir / "gunicorn.sock")) == (os.stat(run_dir).st_gid != os.getegid())


def test_a_runner_the_apps_factory_made_serves_through_the_stack_too() -> None:
    class Own(web.AppRunner):
        pass

    for runner in (web.AppRunner(web.Application()), Own(web.Application())):
        kind = type(runner)
        worker.serve_through_the_stack(runner, worker.CleanErrors)
        worker.serve_through_the_stack(runner, worker.CleanErrors)  # once is enough
        assert isinstance(runner, (worker.StackServing, kind)) and type(runner).__mro__.count(worker.StackServing) == 1

        assert asyncio.run(_handler_class_made_by(runner)) is worker.CleanErrors


async def _handler_class_made_by(runner: web.AppRunner) -> Any:
    await runner.setup()
    try:
        return type(runner.server()) if runner.server else None
    finally:
        await runner.cleanup()
