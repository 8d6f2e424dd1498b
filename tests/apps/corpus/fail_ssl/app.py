"""Refused: run_app with TLS (TLS belongs to nginx or the load balancer)."""
import ssl

from aiohttp import web

app = web.Application()
web.run_app(app, port=8443, ssl_context=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
