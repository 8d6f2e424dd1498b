"""Stores raw request bodies in UPLOAD_DIR (a named volume in docker-compose.yml) and lists them."""

import os
import uuid
from pathlib import Path

from aiohttp import web

UPLOAD_DIR = Path(os.environ.get("UPLOAD_DIR", "/data/uploads"))


async def store(request: web.Request) -> web.Response:
    UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
    name = uuid.uuid4().hex
    size = 0
    with open(UPLOAD_DIR / name, "wb") as out:  # streamed: never the whole body in memory
        async for chunk in request.content.iter_chunked(256 * 1024):
            out.write(chunk)
            size += len(chunk)
    return web.json_response({"name": name, "size": size}, status=201)


async def listing(request: web.Request) -> web.Response:
    names = sorted(p.name for p in UPLOAD_DIR.iterdir()) if UPLOAD_DIR.is_dir() else []
    return web.json_response({"uploads": names})


app = web.Application()
app.router.add_get("/", listing)
app.router.add_post("/", store)
