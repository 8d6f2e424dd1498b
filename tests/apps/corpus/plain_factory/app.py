"""A plain factory, selected with VARIABLE_NAME or APP_MODULE (with arguments: create_app('corpus'))."""

from aiohttp import web


async def client(request: web.Request) -> web.Response:
    return web.Response(text=str(request.remote))


def create_app(name: str = "default") -> web.Application:
    async def index(request: web.Request) -> web.Response:
        return web.Response(text=f"plain_factory: {name}")

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/client", client)
    return app
