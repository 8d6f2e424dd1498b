"""An async app factory (APP_MODULE=app:create_app) with a resource opened and closed around the app's life.

`request.remote` is the client's address as nginx saw it: the image's worker class sets it from nginx's
X-Real-IP on the unix socket, so the app needs no proxy middleware of its own.
"""

import time
from typing import AsyncIterator

import aiohttp
from aiohttp import web

http_client = web.AppKey("http_client", aiohttp.ClientSession)
started_at = web.AppKey("started_at", float)


async def resources(app: web.Application) -> AsyncIterator[None]:
    # opened once per worker process, after the fork; closed on docker stop or a reload
    app[started_at] = time.time()
    async with aiohttp.ClientSession() as session:  # e.g. for calling other services
        app[http_client] = session
        yield


async def whoami(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "remote": request.remote,
            "scheme": request.scheme,
            "host": request.host,
            "worker_uptime": round(time.time() - request.app[started_at], 3),
        }
    )


async def create_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(resources)
    app.router.add_get("/", whoami)
    return app
