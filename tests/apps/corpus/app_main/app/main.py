"""tiangolo's layout: the app in app/main.py (found without APP_MODULE)."""

from aiohttp import web

from .views import client, index

app = web.Application()
app.router.add_get("/", index)
app.router.add_get("/client", client)
