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
from types import FrameType
from typing import Any, Awaitable, Callable, Optional

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

    def handle_quit(self, sig: int, frame: Optional[FrameType]) -> None:
        # gunicorn sends QUIT/INT to workers only for a quick shutdown; aiohttp's
        # worker would still wait for in-flight requests, so leave at once
        self.cfg.worker_int(self)
        os._exit(0)

    def _behind_nginx(self) -> bool:
        return bool(self.sockets) and all(s.family == socket.AF_UNIX for s in self.sockets)

    async def _run(self) -> None:
        if self._behind_nginx():
            self.wsgi: Any = _wrap(self.wsgi)
        await super()._run()


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
