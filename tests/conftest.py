"""Fixtures shared by the test suites: a minimal app directory and an environment free of the stack's variables."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import MutableMapping

import pytest

from aiohttp_nginx_base import settings


def pytest_configure(config: pytest.Config) -> None:
    """The suites' container harness and HTTP probe are the test kit's: say how to install it, not an ImportError later."""
    if importlib.util.find_spec("pytest_aiohttp_nginx") is None:
        raise pytest.UsageError("the test kit is not installed: pip install -e ./pytest-aiohttp-nginx -e '.[test]'")


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A directory holding the smallest app the stack can be pointed at (APP_DIR)."""
    directory = tmp_path / "app"
    directory.mkdir()
    (directory / "app.py").write_text("from aiohttp import web\n\napp = web.Application()\n")
    return directory


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> MutableMapping[str, str]:
    """os.environ without any of the stack's variables, so the host's settings never leak into a test."""
    for var in settings.VARIABLES:
        monkeypatch.delenv(var.name, raising=False)
    return os.environ
