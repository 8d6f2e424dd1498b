"""The default app: replace /app with your own (COPY ./app /app)."""

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello from aiohttp")


app = web.Application()
app.router.add_get("/", hello)
