"""WORKER_CLASS is checked before the stack starts: one line, exit 2, for a class that cannot boot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from aiohttp_nginx_base import workerclass
from aiohttp_nginx_base.settings import DEFAULT_WORKER
from tests.support import free_port, get_text, wait_until

HELLO = "from aiohttp import web\napp = web.Application()\napp.router.add_get('/', lambda r: web.Response(text='hello'))\n"


def check(tmp_path: Path, worker_class: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "app.py").write_text(HELLO)
    env = {**os.environ, "APP_DIR": str(tmp_path), "WORKER_CLASS": worker_class, "RUNTIME_DIR": str(tmp_path / "rt")}
    return subprocess.run([sys.executable, "-m", "aiohttp_nginx_base", "check"], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "value, says",
    [
        ("nowhere.Worker", "cannot import nowhere: ModuleNotFoundError"),
        ("aiohttp.NoSuchWorker", "aiohttp has no attribute NoSuchWorker"),
        ("aiohttp.web.Application", "not a gunicorn worker class"),
        ("app.app", "not a gunicorn worker class"),  # found in APP_DIR, as gunicorn would
        ("broken.Worker", "cannot import broken: ZeroDivisionError: division by zero"),
    ],
)
def test_a_class_that_cannot_serve_is_refused_in_one_line(tmp_path: Path, value: str, says: str) -> None:
    (tmp_path / "broken.py").write_text("1 / 0\n")
    result = check(tmp_path, value)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"aiohttp-nginx: WORKER_CLASS='{value}' is not valid: ") and says in result.stderr


def test_a_worker_class_from_the_app_dir_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "myworkers.py").write_text("from aiohttp.worker import GunicornWebWorker\nclass Worker(GunicornWebWorker):\n    pass\n")
    result = check(tmp_path, "myworkers.Worker")
    assert "WORKER_CLASS" not in result.stderr


def test_the_default_is_not_imported_by_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    class Current:
        worker_class = DEFAULT_WORKER

    def no_child(*args: object, **kwargs: object) -> None:
        raise AssertionError("the default worker class needs no check")

    monkeypatch.setattr(workerclass.subprocess, "run", no_child)
    workerclass.verify(Current())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "uvloop_worker, aiohttp_version, uvloop_version, refused",
    [
        (True, "3.10.11", "0.23.0", True),  # the python3.8 image before locks
        (True, "3.13.3", "0.22.1", True),
        (True, "3.13.4", "0.23.0", False),  # aiohttp catches the RuntimeError since 3.13.4
        (True, "3.10.11", "0.21.0", False),  # uvloop's old policy created a loop
        (True, "3.10.11", None, False),
        (False, "3.10.11", "0.23.0", False),  # GunicornWebWorker never installs uvloop's policy
    ],
)
def test_the_known_bad_combination(uvloop_worker: bool, aiohttp_version: str, uvloop_version: Optional[str], refused: bool) -> None:
    found = workerclass.known_not_to_boot(uvloop_worker, aiohttp_version, uvloop_version)
    assert (found is not None) == refused
    if refused:
        assert found and "fixed in aiohttp 3.13.4" in found and "leave WORKER_CLASS unset" in found


def test_the_rule_matches_what_gunicorn_does_with_the_installed_versions(tmp_path: Path) -> None:
    """aiohttp's uvloop worker under real gunicorn: it boots exactly when the check lets it through.

    With the locked versions it boots; the compatibility matrix's oldest-aiohttp cells run the refused side.
    """
    pytest.importorskip("uvloop")
    (tmp_path / "app.py").write_text(HELLO)
    port = free_port()
    refused = workerclass.problem("aiohttp.GunicornUVLoopWebWorker")
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", "aiohttp.GunicornUVLoopWebWorker", "-w", "1", "-b", f"127.0.0.1:{port}", "app:app"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def outcome() -> Optional[str]:
            if gunicorn.poll() is not None:
                return "exited"
            try:
                return "served" if get_text(port)[1] == "hello" else None
            except OSError:
                return None

        result = wait_until(outcome, timeout=60, what="gunicorn to serve or exit")
    finally:
        if gunicorn.poll() is None:
            gunicorn.terminate()
        output = gunicorn.communicate(timeout=30)[0]
    if refused:
        assert result == "exited" and "There is no current event loop" in output, output
    else:
        assert result == "served", output
