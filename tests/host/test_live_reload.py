"""`aiohttp-nginx run --reload` (what /start-reload.sh does in a container): save, and it is served."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support import get_text, wait_until

APP = '''from aiohttp import web


async def hello(request):
    return web.Response(text="{text}")

app = web.Application()
app.router.add_get("/", hello)
'''


def _save(path: Path, text: str) -> None:
    path.write_text(text)


def test_an_edit_is_served_within_2_seconds_and_a_syntax_error_recovers(host_stack, tmp_path: Path) -> None:
    stack = host_stack("full", env={"WEB_CONCURRENCY": "1"}, args=["--reload"])
    app = stack.app_dir / "app.py"
    _save(app, APP.format(text="version 1"))
    wait_until(lambda: get_text(stack.port, "/") == (200, "version 1"), 10, "the first edit")

    # the best of three edits: one scheduler stall on a loaded 2-core machine is not a slow reload
    took = []
    for version in range(2, 5):
        expected = (200, f"version {version}")
        _save(app, APP.format(text=expected[1]))
        saved = time.monotonic()
        wait_until(lambda e=expected: get_text(stack.port, "/") == e, 10, f"edit {version}")  # type: ignore[misc]
        took.append(time.monotonic() - saved)
        if took[-1] < 2.0:
            break
    assert min(took) < 2.0, took

    _save(app, "def broken(:\n")
    status, body = wait_until(lambda: (lambda r: r if r[0] == 500 else None)(get_text(stack.port, "/")), 10, "the error page")
    assert "SyntaxError" in body
    assert stack.proc.poll() is None, "a syntax error must not stop the stack"

    _save(app, APP.format(text="fixed"))
    wait_until(lambda: get_text(stack.port, "/") == (200, "fixed"), 10, "recovery after the fix")


FAILING_STARTUP = '''from aiohttp import web


async def connect(app):
    raise ConnectionRefusedError("database:5432 refused the connection")

app = web.Application()
app.on_startup.append(connect)
'''


def test_a_startup_that_raises_shows_the_error_page_until_a_fix_is_saved(host_stack) -> None:
    stack = host_stack("full", env={"WEB_CONCURRENCY": "1"}, args=["--reload"])
    app = stack.app_dir / "app.py"
    _save(app, FAILING_STARTUP)
    status, body = wait_until(lambda: (lambda r: r if r[0] == 500 else None)(get_text(stack.port, "/")), 10, "the error page")
    assert body.startswith("The app failed to start; save a fix and it reloads."), body
    assert "app.py:5: ConnectionRefusedError: database:5432 refused the connection" in body, body
    assert stack.proc.poll() is None, "a failed start must not stop the stack in reload mode"
    _save(app, APP.format(text="fixed"))
    wait_until(lambda: get_text(stack.port, "/") == (200, "fixed"), 10, "recovery after the fix")
