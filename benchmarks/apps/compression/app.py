"""The compression benchmark's app: the hello app's / (what the harness waits for) and a 20 KB JSON response."""

from aiohttp import web

# about 20 KB of JSON, made once: the benchmark measures nginx's compression, not json.dumps
ITEMS = [{"id": i, "name": f"item {i}", "tags": ["a", "b"], "active": i % 2 == 0} for i in range(290)]


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello from aiohttp")


async def json20k(request: web.Request) -> web.Response:
    return web.json_response(ITEMS)


app = web.Application()
app.router.add_get("/", hello)
app.router.add_get("/json20k", json20k)
