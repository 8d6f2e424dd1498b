"""File uploads streamed to disk: POST /upload (multipart, field `file`) answers its size and sha256.

Each part is read in chunks and written as it arrives, so memory use does not grow with the file; aiohttp's
client_max_size (1 MiB) only limits `await request.post()`/`read()`, which read the whole body. nginx enforces
NGINX_MAX_UPLOAD (413) before the app sees a byte.
"""

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path

from aiohttp import BodyPartReader, web

UPLOAD_DIR = Path(os.environ.get("UPLOAD_DIR", "/tmp/uploads"))
CHUNK = 256 * 1024


async def upload(request: web.Request) -> web.Response:
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name != "file":
            continue
        loop = asyncio.get_running_loop()
        digest, size = hashlib.sha256(), 0
        UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
        # a temporary name until the file is complete: a failed upload leaves nothing behind
        fd, tmp = tempfile.mkstemp(dir=UPLOAD_DIR, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := await part.read_chunk(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    await loop.run_in_executor(None, out.write, chunk)  # disk writes off the event loop
            stored = UPLOAD_DIR / digest.hexdigest()
            os.replace(tmp, stored)
        except BaseException:
            os.unlink(tmp)
            raise
        return web.json_response({"filename": part.filename, "size": size, "sha256": digest.hexdigest()}, status=201)
    raise web.HTTPBadRequest(text="expected a multipart form with a `file` field\n")


app = web.Application()
app.router.add_post("/upload", upload)
