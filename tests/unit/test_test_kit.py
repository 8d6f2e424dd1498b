"""The test kit: pytest-aiohttp-nginx registers itself, the old import path still enables it (deprecated), and the
harness's readiness loop waits for an accepted answer or fails at its deadline. Real pytest runs, real HTTP servers."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import pytest_aiohttp_nginx
from pytest_aiohttp_nginx.docker import ContainerError
from pytest_aiohttp_nginx.ready import wait_ready

import aiohttp_nginx_base
from tests.support import free_port

OLD_LINE = 'pytest_plugins = ["aiohttp_nginx_base.pytest_plugin"]\n'
# passes only where the plugin is enabled: its ini options exist, under its entry point's name
USES_THE_PLUGIN = """
def test_plugin(pytestconfig):
    assert pytestconfig.getini("aiohttp_nginx_timeout") == "60"
    assert pytestconfig.pluginmanager.has_plugin("aiohttp_nginx")
"""


def run_pytest(project: Path, conftest: str, env: Dict[str, str], prelude: str = "") -> subprocess.CompletedProcess[str]:
    """`pytest` in a project of its own: `conftest` plus the one test above; `prelude` runs first in that Python."""
    (project / "conftest.py").write_text(conftest)
    (project / "test_it.py").write_text(USES_THE_PLUGIN)
    (project / "pytest.ini").write_text("[pytest]\n")
    code = f"{prelude}\nimport sys, pytest\nsys.exit(pytest.main(['-p', 'no:cacheprovider', '-q', '-rw']))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=project, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=120,
    )  # fmt: skip


def test_installed_the_plugin_registers_itself(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "", {})
    assert result.returncode == 0, result.stdout


def test_the_old_pytest_plugins_line_still_enables_it_with_a_deprecation_warning_saying_how_to_move(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, OLD_LINE, {})
    assert result.returncode == 0, result.stdout
    assert "DeprecationWarning: aiohttp_nginx_base.pytest_plugin moved to the pytest-aiohttp-nginx distribution" in result.stdout
    assert "`pip install pytest-aiohttp-nginx` and delete the pytest_plugins line" in result.stdout


def test_the_old_line_enables_it_where_plugin_autoload_is_off(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, OLD_LINE, {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert result.returncode == 0, result.stdout


def test_the_old_line_without_the_new_distribution_says_in_one_line_what_to_install(tmp_path: Path) -> None:
    # the distribution uninstalled, as in a project that only upgraded aiohttp-nginx-base
    hide = "import sys; sys.modules['pytest_aiohttp_nginx'] = None"
    result = run_pytest(tmp_path, OLD_LINE, {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}, prelude=hide)
    assert result.returncode != 0
    line = (
        "ImportError: aiohttp_nginx_base.pytest_plugin moved to its own distribution, which is not installed:"
        " pip install pytest-aiohttp-nginx"
    )
    assert line in result.stdout, result.stdout


def test_the_shim_left_in_the_package_holds_no_harness_code() -> None:
    # what ships in the images: no docker, no fixtures, no HTTP
    source = (Path(aiohttp_nginx_base.__file__).parent / "pytest_plugin.py").read_text()
    for harness in ("subprocess", "docker(", "pytest.fixture", "http.client"):
        assert harness not in source


def test_the_kit_is_released_with_the_package_under_the_same_version() -> None:
    assert pytest_aiohttp_nginx.__version__ == aiohttp_nginx_base.__version__


class Flaky(http.server.BaseHTTPRequestHandler):
    """503 for the first three requests, then 200: a server still starting."""

    answered: List[int] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        status = 503 if len(self.answered) < 3 else 200
        self.answered.append(status)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def flaky_port() -> Iterator[int]:
    Flaky.answered = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_wait_ready_polls_until_the_answer_is_accepted(flaky_port: int) -> None:
    wait_ready(flaky_port, timeout=10, accept=lambda status, _: status == 200, interval=0.01)
    assert Flaky.answered == [503, 503, 503, 200]


def test_wait_ready_fails_at_its_deadline_when_nothing_answers() -> None:
    started = time.monotonic()
    with pytest.raises(ContainerError, match=r"did not answer within 0.5 s \(last: ConnectionRefusedError"):
        wait_ready(free_port(), timeout=0.5)
    assert time.monotonic() - started < 3
