from aiohttp import web

from .prices import PRICES


async def index(request: web.Request) -> web.Response:
    return web.Response(text=f"package: {len(PRICES)} prices")


async def client(request: web.Request) -> web.Response:
    return web.Response(text=str(request.remote))
