"""Answers `hello from aiohttp` at /: the same app the image ships in /app."""

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello from aiohttp")


app = web.Application()
app.router.add_get("/", hello)
