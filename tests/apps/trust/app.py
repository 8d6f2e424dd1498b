"""Test app for the security suite: reports what it was told about the client, and counts bodies it reads."""

import os

from aiohttp import web


async def client(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "remote": request.remote,
            "scheme": request.scheme,
            "host": request.host,
            "forwarded": [dict(f) for f in request.forwarded],
            "headers": {k.lower(): v for k, v in request.headers.items()},
        }
    )


async def upload(request: web.Request) -> web.Response:
    # the marker lets a test see that a body reached the app at all
    marker = os.environ.get("UPLOAD_MARKER")
    if marker:
        with open(marker, "a") as seen:
            seen.write("reached\n")
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
    return web.json_response({"size": size})


async def url(request: web.Request) -> web.Response:
    return web.Response(text=str(request.url))


async def ids(request: web.Request) -> web.Response:
    return web.json_response({"euid": os.geteuid(), "egid": os.getegid(), "groups": os.getgroups()})


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello from aiohttp")


app = web.Application()
app.router.add_get("/", hello)
app.router.add_route("*", "/client", client)
app.router.add_route("*", "/custom/client", client)
app.router.add_post("/upload", upload)
app.router.add_get("/url", url)
app.router.add_get("/ids", ids)
