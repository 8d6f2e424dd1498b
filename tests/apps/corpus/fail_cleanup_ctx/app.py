"""Fails to start: a cleanup_ctx context raises before its yield."""
from typing import AsyncIterator

from aiohttp import web


async def database_pool(app: web.Application) -> AsyncIterator[None]:
    raise KeyError("DATABASE_URL")
    yield


app = web.Application()
app.cleanup_ctx.append(database_pool)
