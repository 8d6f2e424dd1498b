from aiohttp import web

from . import handlers

app = web.Application()
app.router.add_get("/", handlers.index)
app.router.add_get("/client", handlers.client)
