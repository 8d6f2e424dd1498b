"""run_app given a coroutine: the app is built inside the event loop."""

from aiohttp import web


async def client(request: web.Request) -> web.Response:
    return web.Response(text=str(request.remote))


async def make_app() -> web.Application:
    import asyncio

    built_in_loop = asyncio.get_running_loop().is_running()

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=f"runapp_coroutine: built in the loop: {built_in_loop}")

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/client", client)
    return app


web.run_app(make_app(), port=9000)
