"""The gunicorn worker class the stack runs by default.

Two things on top of aiohttp's own GunicornWebWorker:
- the event loop is uvloop's (when installed), created directly rather than
  through the event-loop-policy API that Python 3.14 deprecates;
- behind nginx on a unix socket, `request.remote` would be empty and
  `request.scheme` always http.  nginx sets X-Real-IP and X-Forwarded-Proto
  (overwriting whatever the client sent) together with this start's proof
  (see trust.py); the worker trusts those two headers only on its unix socket
  and only with the proof, which it removes before the app sees the request.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import traceback
from types import FrameType
from typing import Any, Dict, Mapping, Optional

from aiohttp import web
from aiohttp.worker import GunicornWebWorker

from . import trust

try:
    import uvloop
except ImportError:  # pragma: no cover - Windows, or a platform without wheels
    uvloop = None  # type: ignore[assignment]

_WRAPPED = "_aiohttp_nginx_real_client"
RELOAD_POLL_SECONDS = 0.25


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
        request._cache["remote"] = remote
    scheme = headers.get("X-Forwarded-Proto")
    if scheme in ("http", "https"):
        request._cache["scheme"] = scheme
    return request


def add_real_client(app: web.Application, secret: Optional[str] = None) -> web.Application:
    """Apply the headers as each request is made: unlike a middleware, this costs the app
    nothing when it has no middlewares of its own (aiohttp then skips the middleware chain).
    Without `secret` nothing is trusted."""
    if getattr(app, _WRAPPED, False):
        return app
    make_request = app._make_request

    def make_request_with_client(message: Any, *args: Any, **kwargs: Any) -> web.Request:
        message, trusted = trust.take_proof(message, secret)
        return apply_client_headers(make_request(message, *args, **kwargs), trusted)  # type: ignore[return-value]

    # object.__setattr__: aiohttp's debug mode warns about attributes it does not know
    object.__setattr__(app, "_make_request", make_request_with_client)
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
        if request.path == path:
            return web.Response(text="ready\n")
        return await handle(request)

    object.__setattr__(app, "_handle", handle_or_answer_readiness)


class Worker(GunicornWebWorker):
    """aiohttp worker with uvloop and nginx's client address."""

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

    def load_wsgi(self) -> None:
        """With --reload, an app that fails to load answers 500 with the error until a fix is saved.

        gunicorn does this only for a SyntaxError and with a WSGI error app, which an
        aiohttp worker cannot serve: the worker would fail to boot and stop the stack.
        """
        if not self.cfg.reload:
            super().load_wsgi()
            return
        try:
            self.wsgi: Any = self.app.wsgi()
        except Exception as exc:  # noqa: BLE001 - any import-time error, shown until fixed
            self.log.exception("the app failed to load; it reloads when a fix is saved")
            self.wsgi = _error_app("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))

    def handle_quit(self, sig: int, frame: Optional[FrameType]) -> None:
        # gunicorn sends QUIT/INT to workers only for a quick shutdown; aiohttp's
        # worker would still wait for in-flight requests, so leave at once
        self.cfg.worker_int(self)
        os._exit(0)

    def _behind_nginx(self) -> bool:
        return bool(self.sockets) and all(s.family == socket.AF_UNIX for s in self.sockets)

    def handle_exit(self, sig: int, frame: Optional[FrameType]) -> None:
        super().handle_exit(sig, frame)
        self._stop_now()

    def _stop_now(self) -> None:
        # start stopping now rather than at the serving loop's next 1-second tick
        self.alive = False
        wake = getattr(self, "_notify_waiter_done", None)
        if wake is not None:
            wake()

    async def _run(self) -> None:
        if self._behind_nginx():
            self.wsgi = _wrap(self.wsgi, trust.secret_beside(self.sockets[0].getsockname()))
        watcher = self.loop.create_task(self._reload_on_change(os.getcwd())) if self.cfg.reload else None
        try:
            await super()._run()
        finally:
            if watcher is not None:
                watcher.cancel()

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


def _error_app(text: str) -> web.Application:
    async def show(request: web.Request) -> web.Response:
        return web.Response(status=500, text=f"The app failed to load; save a fix and it reloads.\n\n{text}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", show)
    return app


def _wrap(target: Any, secret: Optional[str] = None) -> Any:
    """Add the client hook to an app, or to what an async factory returns."""
    if isinstance(target, web.Application):
        return add_real_client(target, secret)
    if not inspect.iscoroutinefunction(target):
        return target  # aiohttp's worker reports the error

    async def factory() -> Any:
        made = await target()
        if isinstance(made, web.AppRunner):
            add_real_client(made.app, secret)
        elif isinstance(made, web.Application):
            add_real_client(made, secret)
        return made

    return factory
