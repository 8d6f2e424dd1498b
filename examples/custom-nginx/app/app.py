"""A page whose stylesheet nginx serves from /static with a Cache-Control header (cache.conf)."""

from aiohttp import web

PAGE = """<!doctype html>
<meta charset="utf-8">
<link rel="stylesheet" href="/static/site.css">
<p>styled by a cached stylesheet</p>
"""


async def index(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


app = web.Application()
app.router.add_get("/", index)
