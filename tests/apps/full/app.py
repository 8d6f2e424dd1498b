"""Test app covering what users rely on: env, client address, websockets, uploads, crashes, slow requests."""

import asyncio
import hashlib
import os
import weakref

from aiohttp import WSMsgType, web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello from aiohttp")


async def env(request: web.Request) -> web.Response:
    return web.Response(text=os.environ.get(request.match_info["name"], ""))


async def client(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "remote": request.remote,
            "scheme": request.scheme,
            "host": request.host,
            "url": str(request.url),
            # what nginx passed on: the request id and the forwarding headers as the app received them
            "request_id": request.headers.get("X-Request-ID"),
            "forwarded": request.headers.getall("Forwarded", []),
            "x_forwarded_for": request.headers.getall("X-Forwarded-For", []),
        }
    )


async def big_header(request: web.Request) -> web.Response:
    """A response header of `kb` KiB (session cookies and CSP headers grow that large)."""
    return web.Response(text="big header", headers={"X-Big": "b" * (int(request.query["kb"]) * 1024 - len("X-Big: \r\n"))})


async def json20k(request: web.Request) -> web.Response:
    """About 20 KB of JSON: the compression case."""
    return web.json_response([{"id": i, "name": f"item {i}", "tags": ["a", "b"]} for i in range(380)])


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events marked unbuffered: the first event must arrive while the stream stays open."""
    kind = "text/plain" if request.query.get("type") == "plain" else "text/event-stream"
    response = web.StreamResponse(headers={"Content-Type": kind, "X-Accel-Buffering": "no"})
    await response.prepare(request)
    await response.write(b"data: first\n\n")
    await asyncio.sleep(float(request.query.get("s", "30")))
    await response.write(b"data: last\n\n")
    return response


async def pid(request: web.Request) -> web.Response:
    return web.Response(text=str(os.getpid()))


async def ids(request: web.Request) -> web.Response:
    # who the app runs as (APP_USER)
    ids = {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups()}
    return web.json_response({**ids, "home": os.environ.get("HOME")})


async def slow(request: web.Request) -> web.Response:
    if "mark" in request.query:  # lets a test see that the request is in flight
        with open(request.query["mark"], "w"):
            pass
    await asyncio.sleep(float(request.query.get("s", "1")))
    return web.Response(text="slow done")


async def crash(request: web.Request) -> web.Response:
    os._exit(1)


async def upload(request: web.Request) -> web.Response:
    digest, size = hashlib.sha256(), 0
    async for chunk in request.content.iter_chunked(65536):
        digest.update(chunk)
        size += len(chunk)
    return web.json_response({"size": size, "sha256": digest.hexdigest()})


async def static_shadow(request: web.Request) -> web.Response:
    return web.Response(text="from the app, not nginx")


OPEN_SOCKETS = web.AppKey("open_sockets", weakref.WeakSet)


async def ws(request: web.Request) -> web.WebSocketResponse:
    sock = web.WebSocketResponse()
    await sock.prepare(request)
    request.app[OPEN_SOCKETS].add(sock)
    async for msg in sock:
        if msg.type == WSMsgType.TEXT:
            await sock.send_str("echo: " + msg.data)
    return sock


async def close_sockets(app: web.Application) -> None:
    # what a well-behaved app does on stop: tell each websocket client, with 1001 "going away"
    for sock in list(app[OPEN_SOCKETS]):
        await sock.close(code=1001, message=b"server shutdown")


async def sse(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one now, one `gap` seconds later (a proxy that buffers holds the first back)."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    if "no-buffering" in request.query:
        response.headers["X-Accel-Buffering"] = "no"
    await response.prepare(request)
    await response.write(b"data: first\n\n")
    await asyncio.sleep(float(request.query.get("gap", "2")))
    await response.write(b"data: second\n\n")
    await response.write_eof()
    return response


async def chunked(request: web.Request) -> web.StreamResponse:
    """A chunked download written a piece at a time."""
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for _ in range(2):
        await response.write(b"piece\n")
        await asyncio.sleep(float(request.query.get("gap", "2")))
    await response.write_eof()
    return response


app = web.Application()
app[OPEN_SOCKETS] = weakref.WeakSet()
app.on_shutdown.append(close_sockets)
app.router.add_get("/", hello)
app.router.add_get("/env/{name}", env)
app.router.add_get("/client", client)
app.router.add_get("/pid", pid)
app.router.add_get("/ids", ids)
app.router.add_get("/slow", slow)
app.router.add_get("/crash", crash)
app.router.add_post("/upload", upload)
app.router.add_get("/static/{tail:.*}", static_shadow)
app.router.add_get("/ws", ws)
app.router.add_get("/big-header", big_header)
app.router.add_get("/json20k", json20k)
app.router.add_get("/events", events)
app.router.add_get("/sse", sse)
app.router.add_get("/chunked", chunked)
