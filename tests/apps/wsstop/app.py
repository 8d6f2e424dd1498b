"""Websockets closed by the app on stop (aiohttp's documented pattern); each socket first says which worker holds it."""

import os
import weakref

from aiohttp import WSCloseCode, web

sockets = web.AppKey("sockets", weakref.WeakSet)


async def ws(request: web.Request) -> web.WebSocketResponse:
    sock = web.WebSocketResponse()
    await sock.prepare(request)
    request.app[sockets].add(sock)
    try:
        await sock.send_str(str(os.getpid()))
        async for _ in sock:
            pass
    finally:
        request.app[sockets].discard(sock)
    return sock


async def close_all(app: web.Application) -> None:
    for sock in set(app[sockets]):
        await sock.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


app = web.Application()
app[sockets] = weakref.WeakSet()
app.on_shutdown.append(close_all)
app.router.add_get("/", hello)
app.router.add_get("/ws", ws)
