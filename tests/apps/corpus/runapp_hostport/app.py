"""A blog post's style: run_app with its own host, port and access log settings."""

from aiohttp import web


async def index(request: web.Request) -> web.Response:
    return web.Response(text="runapp_hostport: ok")


async def client(request: web.Request) -> web.Response:
    return web.Response(text=str(request.remote))


def main() -> None:
    app = web.Application()
    app.add_routes([web.get("/", index), web.get("/client", client)])
    web.run_app(app, host="0.0.0.0", port=8080, access_log=None, shutdown_timeout=5)


main()
