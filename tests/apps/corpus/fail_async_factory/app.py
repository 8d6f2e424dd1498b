"""Fails: the async factory raises."""
from aiohttp import web


async def create_app() -> web.Application:
    raise RuntimeError("DATABASE_URL is not set")
