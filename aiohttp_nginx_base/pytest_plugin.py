"""Deprecated: the pytest plugin moved to its own distribution, pytest-aiohttp-nginx (not in the images).

Move: ``pip install pytest-aiohttp-nginx`` (or add it to your test requirements) and delete the
``pytest_plugins = ["aiohttp_nginx_base.pytest_plugin"]`` line: installed, the plugin registers itself. Until then this
module still enables it, with a DeprecationWarning; it goes away in the next release. No harness code lives here.
"""

from __future__ import annotations

import warnings
from typing import Any

MOVED = (
    "aiohttp_nginx_base.pytest_plugin moved to the pytest-aiohttp-nginx distribution: "
    "`pip install pytest-aiohttp-nginx` and delete the pytest_plugins line (the plugin registers itself)"
)
ENTRY_POINT = "aiohttp_nginx"  # the plugin's pytest11 name: registering under it keeps pytest from loading it twice

try:
    from pytest_aiohttp_nginx import plugin as _plugin
except ImportError:
    raise ImportError(
        "aiohttp_nginx_base.pytest_plugin moved to its own distribution, which is not installed: pip install pytest-aiohttp-nginx"
    ) from None

warnings.warn(MOVED, DeprecationWarning, stacklevel=2)


def pytest_addhooks(pluginmanager: Any) -> None:
    """Enable the moved plugin unless pytest already loaded it (through its entry point, or -p)."""
    if not pluginmanager.is_registered(_plugin) and not pluginmanager.has_plugin(ENTRY_POINT):
        pluginmanager.register(_plugin, ENTRY_POINT)
