"""pytest plugin and container harness: an aiohttp app in the aiohttp-nginx image, behind nginx, as in production.

The plugin (fixtures ``aiohttp_nginx_url``, ``aiohttp_nginx_container``, ``aiohttp_nginx_image``) is
``pytest_aiohttp_nginx.plugin``, registered through the ``pytest11`` entry point ``aiohttp_nginx``. The modules below
it are the harness the plugin is built on, usable without pytest: ``docker`` (the one way to run the docker command),
``client`` (the HTTP probe) and ``ready`` (the readiness loop).
"""

__version__ = "0.1.0"  # released together with aiohttp-nginx-base, same number (a unit test pins it)
