"""aiohttp behind nginx and gunicorn, supervised by supervisord: the runtime of the aiohttp-nginx images."""

__version__ = "0.1.0"
