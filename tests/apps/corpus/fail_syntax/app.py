"""Fails: a syntax error."""
from aiohttp import web

app = web.Application(
