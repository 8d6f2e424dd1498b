"""cleanup_ctx and a background task, as aiohttp's docs show them."""

import asyncio
import contextlib
from typing import AsyncIterator

from aiohttp import web

TICKS = web.AppKey("ticks", list) if hasattr(web, "AppKey") else "ticks"


async def ticker(app: web.Application) -> None:
    while True:
        app[TICKS].append(1)
        await asyncio.sleep(0.05)


async def background_tasks(app: web.Application) -> AsyncIterator[None]:
    app[TICKS] = []
    task = asyncio.create_task(ticker(app))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def index(request: web.Request) -> web.Response:
    return web.Response(text=f"background: ticking={len(request.app[TICKS]) > 0}")


async def client(request: web.Request) -> web.Response:
    return web.Response(text=str(request.remote))


app = web.Application()
app.cleanup_ctx.append(background_tasks)
app.router.add_get("/", index)
app.router.add_get("/client", client)
