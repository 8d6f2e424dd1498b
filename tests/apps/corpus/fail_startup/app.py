"""Fails to start: on_startup cannot reach the database (the commonest start failure)."""
from aiohttp import web


async def connect_database(app: web.Application) -> None:
    raise ConnectionRefusedError("database:5432 refused the connection")


app = web.Application()
app.on_startup.append(connect_database)
