"""Fails: the factory raises."""
from aiohttp import web


def create_app() -> web.Application:
    raise RuntimeError("DATABASE_URL is not set")
