"""Fails: the app is not called app (VARIABLE_NAME unset)."""
from aiohttp import web

application = web.Application()
