"""An async factory, as aiohttp's docs show for gunicorn."""

import asyncio

from aiohttp import web


async def client(request: web.Request) -> web.Response:
    return web.Response(text=str(request.remote))


async def create_app() -> web.Application:
    await asyncio.sleep(0)  # e.g. connect to a database

    async def index(request: web.Request) -> web.Response:
        return web.Response(text="async_factory: ok")

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/client", client)
    return app
