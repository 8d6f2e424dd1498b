"""`aiohttp-nginx --version` names the exact versions inside."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata

import pytest

from aiohttp_nginx_base import __version__


def test_version_lists_python_nginx_and_the_packages() -> None:
    result = subprocess.run([sys.executable, "-m", "aiohttp_nginx_base", "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    listed = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert list(listed) == ["aiohttp-nginx-base", "python", "nginx", "aiohttp", "gunicorn", "supervisor", "uvloop"]
    assert listed["aiohttp-nginx-base"] == __version__
    assert listed["python"] == platform.python_version()
    for name in ("aiohttp", "gunicorn", "supervisor", "uvloop"):
        assert listed[name] == metadata.version(name)
    nginx = shutil.which("nginx", path="/usr/sbin:/usr/local/sbin:/usr/bin")
    if nginx is None:
        pytest.skip("nginx is not installed here")
    found = re.search(r"nginx/(\S+)", subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr)
    assert found and listed["nginx"] == found[1]


def test_a_missing_nginx_is_said_not_crashed(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiohttp_nginx_base import versions

    monkeypatch.setattr(versions, "nginx_binary", lambda: None)
    assert versions.versions()["nginx"] == "not installed"
