"""The gunicorn worker class the stack runs by default.

Two things on top of aiohttp's own GunicornWebWorker:
- the event loop is uvloop's (when installed), created directly rather than
  through the event-loop-policy API that Python 3.14 deprecates;
- behind nginx on a unix socket, `request.remote` would be empty and
  `request.scheme` always http.  nginx sets X-Real-IP and X-Forwarded-Proto
  (overwriting whatever the client sent), and only nginx can open the socket,
  so the worker trusts those two headers there - and only there.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import traceback
from types import FrameType
from typing import Any, Awaitable, Callable, List, Optional

from aiohttp import web
from aiohttp.worker import GunicornWebWorker

try:
    import uvloop
except ImportError:  # pragma: no cover - Windows, or a platform without wheels
    uvloop = None  # type: ignore[assignment]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def real_client(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Report nginx's view of the client: address and scheme."""
    headers = request.headers
    remote = headers.get("X-Real-IP")
    scheme = headers.get("X-Forwarded-Proto")
    cache = getattr(request, "_cache", None)
    if isinstance(cache, dict):
        # what request.clone(remote=..., scheme=...) does, without copying the request
        if remote:
            cache["remote"] = remote
        if scheme in ("http", "https"):
            cache["scheme"] = scheme
        return await handler(request)
    if remote or scheme in ("http", "https"):
        request = request.clone(remote=remote or request.remote or "", scheme=scheme if scheme in ("http", "https") else request.scheme)
    return await handler(request)


def add_real_client(app: web.Application) -> web.Application:
    if real_client not in app.middlewares:
        app.middlewares.insert(0, real_client)
    return app


class Worker(GunicornWebWorker):
    """aiohttp worker with uvloop and nginx's client address."""

    def init_process(self) -> None:
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
        self._wake_on_change()
        try:
            self.wsgi: Any = self.app.wsgi()
        except Exception as exc:  # noqa: BLE001 - any import-time error, shown until fixed
            self.log.exception("the app failed to load; it reloads when a fix is saved")
            for filename in _files_in(exc):
                self.reloader.add_extra_file(filename)
            self.wsgi = _error_app("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))

    def _wake_on_change(self) -> None:
        # gunicorn's reloader only sets `alive`, which the serving loop checks once a second
        callback = self.reloader._callback

        def changed(filename: str) -> None:
            self.alive = False
            wake = getattr(self, "_notify_waiter_done", None)
            if wake is not None:
                self.loop.call_soon_threadsafe(wake)
            callback(filename)

        self.reloader._callback = changed

    def handle_quit(self, sig: int, frame: Optional[FrameType]) -> None:
        # gunicorn sends QUIT/INT to workers only for a quick shutdown; aiohttp's
        # worker would still wait for in-flight requests, so leave at once
        self.cfg.worker_int(self)
        os._exit(0)

    def _behind_nginx(self) -> bool:
        return bool(self.sockets) and all(s.family == socket.AF_UNIX for s in self.sockets)

    def handle_exit(self, sig: int, frame: Optional[FrameType]) -> None:
        # graceful stop: start it now rather than at the serving loop's next 1-second tick
        super().handle_exit(sig, frame)
        wake = getattr(self, "_notify_waiter_done", None)
        if wake is not None:
            wake()

    async def _run(self) -> None:
        if self._behind_nginx():
            self.wsgi = _wrap(self.wsgi)
        await super()._run()


def _files_in(exc: BaseException) -> List[str]:
    """The source files an import error points at: where a fix will be saved."""
    files = [exc.filename] if isinstance(exc, SyntaxError) and exc.filename else []
    tb = exc.__traceback__
    while tb is not None:
        files.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    return [f for f in files if os.path.isfile(f)]


def _error_app(text: str) -> web.Application:
    async def show(request: web.Request) -> web.Response:
        return web.Response(status=500, text=f"The app failed to load; save a fix and it reloads.\n\n{text}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", show)
    return app


def _wrap(target: Any) -> Any:
    """Add the middleware to an app, or to what an async factory returns."""
    if isinstance(target, web.Application):
        return add_real_client(target)
    if not inspect.iscoroutinefunction(target):
        return target  # aiohttp's worker reports the error

    async def factory() -> Any:
        made = await target()
        if isinstance(made, web.AppRunner):
            add_real_client(made.app)
        elif isinstance(made, web.Application):
            add_real_client(made)
        return made

    return factory
