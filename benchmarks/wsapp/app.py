"""The benchmark app with a websocket echo: what benchmarks.websockets holds open."""

from aiohttp import WSMsgType, web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello from aiohttp")


async def ws(request: web.Request) -> web.WebSocketResponse:
    sock = web.WebSocketResponse()
    await sock.prepare(request)
    async for msg in sock:
        if msg.type == WSMsgType.TEXT:
            await sock.send_str(msg.data)
    return sock


app = web.Application()
app.router.add_get("/", hello)
app.router.add_get("/ws", ws)
