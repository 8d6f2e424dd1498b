"""Route-table decorators."""

from aiohttp import web

routes = web.RouteTableDef()


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    return web.Response(text="route_table: ok")


@routes.get("/client")
async def client(request: web.Request) -> web.Response:
    return web.Response(text=str(request.remote))


@routes.post("/echo")
async def echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read())


app = web.Application()
app.add_routes(routes)
