"""/start-reload.sh with /app bind-mounted: an edit on the host is served within 2 s, through nginx."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.image.helpers import docker
from tests.support import APPS, answers, get_text, wait_until

pytestmark = pytest.mark.image


def test_start_reload_serves_an_edit_of_the_bind_mounted_app_within_2_seconds(image: str, run_container, tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    shutil.copytree(APPS / "full", app_dir)
    container = run_container(image, "-p", "127.0.0.1::80", "-v", f"{app_dir}:/app", "-e", "WEB_CONCURRENCY=1", args=["/start-reload.sh"])
    port = int(docker("port", container, "80/tcp", timeout=30).stdout.strip().splitlines()[0].rsplit(":", 1)[1])
    wait_until(lambda: answers(port), 60, "the container to answer")
    app = app_dir / "app.py"
    original = app.read_text()
    # the best of three edits: one scheduler stall on a loaded 2-core machine is not a slow reload
    took = []
    for edit in range(1, 4):
        expected = (200, f"edited on the host {edit}")
        app.write_text(original.replace('text="hello from aiohttp"', f'text="{expected[1]}"'))
        saved = time.monotonic()
        wait_until(lambda e=expected: get_text(port, "/") == e, 10, "the edit to be served")  # type: ignore[misc]
        took.append(time.monotonic() - saved)
        if took[-1] < 2.0:
            break
    assert min(took) < 2.0, took
    assert get_text(port, "/static/hello.txt") == (200, "static file served by nginx\n")  # the same nginx in front
