from aiohttp import web


async def index(request: web.Request) -> web.Response:
    return web.Response(text="app_main: ok")


async def client(request: web.Request) -> web.Response:
    return web.Response(text=str(request.remote))
