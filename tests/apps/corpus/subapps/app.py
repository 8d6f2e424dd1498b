"""Sub-applications under prefixes."""

from aiohttp import web


async def index(request: web.Request) -> web.Response:
    return web.Response(text="subapps: ok")


async def client(request: web.Request) -> web.Response:
    return web.Response(text=str(request.remote))


async def admin_index(request: web.Request) -> web.Response:
    return web.Response(text=f"subapps: admin at {request.app.router['admin'].url_for()}")


admin = web.Application()
admin.router.add_get("/", admin_index, name="admin")

app = web.Application()
app.router.add_get("/", index)
app.router.add_get("/client", client)
app.add_subapp("/admin/", admin)
