"""A websocket chat room: every text message is sent to every connected client, the sender included."""

import weakref

from aiohttp import WSMsgType, web

clients = web.AppKey("clients", weakref.WeakSet)  # a closed socket drops out on its own


async def chat(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    room = request.app[clients]
    room.add(ws)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                for peer in list(room):
                    if not peer.closed:
                        await peer.send_str(msg.data)
    finally:
        room.discard(ws)
    return ws


async def close_all(app: web.Application) -> None:
    # on docker stop: tell the browsers, rather than leaving gunicorn to wait for them
    for ws in list(app[clients]):
        await ws.close(code=1001, message=b"server shutdown")


app = web.Application()
app[clients] = weakref.WeakSet()
app.router.add_get("/ws", chat)
app.on_shutdown.append(close_all)
