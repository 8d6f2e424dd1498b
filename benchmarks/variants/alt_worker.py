"""Experiment (benchmarks/tune.py `client_addr`): nginx's client address without a middleware.

The runtime's Worker adds an aiohttp middleware; any middleware makes aiohttp run
its middleware chain on every request. This variant sets the same two cached
values (`remote`, `scheme`) when the request object is made, leaving the app
without middlewares. Mounted into /app and selected with WORKER_CLASS.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from aiohttp_nginx_base import worker as base


def _with_client(app: web.Application) -> web.Application:
    make = app._make_request

    def make_request(message: Any, payload: Any, protocol: Any, writer: Any, task: Any, _cls: Any = web.Request) -> web.Request:
        request = make(message, payload, protocol, writer, task, _cls)
        headers = message.headers
        remote = headers.get("X-Real-IP")
        if remote:
            request._cache["remote"] = remote
        scheme = headers.get("X-Forwarded-Proto")
        if scheme in ("http", "https"):
            request._cache["scheme"] = scheme
        return request

    app._make_request = make_request  # type: ignore[method-assign]
    return app


class Worker(base.Worker):
    async def _run(self) -> None:
        if self._behind_nginx() and isinstance(self.wsgi, web.Application):
            _with_client(self.wsgi)
        await super(base.Worker, self)._run()
