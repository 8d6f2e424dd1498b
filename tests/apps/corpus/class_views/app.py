"""Class-based views."""

from aiohttp import web


class Index(web.View):
    async def get(self) -> web.Response:
        return web.Response(text="class_views: ok")

    async def post(self) -> web.Response:
        data = await self.request.post()
        return web.Response(text=f"class_views: posted {data.get('name')}")


class Client(web.View):
    async def get(self) -> web.Response:
        return web.Response(text=str(self.request.remote))


app = web.Application()
app.router.add_view("/", Index)
app.router.add_view("/client", Client)
