"""Fixtures shared by the test suites: a minimal app directory and an environment free of the stack's variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import MutableMapping

import pytest

from aiohttp_nginx_base import settings


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
