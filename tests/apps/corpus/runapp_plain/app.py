"""aiohttp's own examples' style: build the app, then run it at module level (no __main__ guard)."""

import os

from aiohttp import web


async def index(request: web.Request) -> web.Response:
    return web.Response(text=f"runapp_plain: pid {os.getpid()}")


async def client(request: web.Request) -> web.Response:
    return web.Response(text=str(request.remote))


async def slow(request: web.Request) -> web.Response:
    import asyncio

    open(request.query["mark"], "w").close()
    await asyncio.sleep(float(request.query.get("s", "2")))
    return web.Response(text="slow done")


app = web.Application()
app.router.add_get("/", index)
app.router.add_get("/client", client)
app.router.add_get("/slow", slow)
web.run_app(app)
raise SystemExit("code after web.run_app() ran")
