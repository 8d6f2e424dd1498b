"""The chat example in a real browser: Debian's chromium, driven by Playwright (no browser download).

Two pages exchange messages through nginx; on `docker restart` both see the app's own 1001 close (not 1006), say
they are disconnected, reconnect by themselves with backoff, and exchange messages again.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

from tests.extras import missing
from tests.support import free_port

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page
    from pytest_aiohttp_nginx.container import ContainerFactory

pytestmark = [pytest.mark.image, pytest.mark.heavy, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHROMIUM = "/usr/bin/chromium"
# headless, and nothing that reaches the network on its own: only the pages' own requests leave the browser
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECONDS = 1000  # Playwright's timeouts are in milliseconds


@pytest.fixture
def browser() -> Iterator[BrowserContext]:
    if not Path(CHROMIUM).is_file():
        pytest.fail("chromium is not installed (apt-get install chromium)", pytrace=False)
    try:
        from playwright import sync_api
    except ImportError:
        missing("playwright", "browser")
    profile = tempfile.mkdtemp(prefix="ainb-chromium-")  # a fresh --user-data-dir
    try:
        with sync_api.sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True, args=FLAGS)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def say(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.click("#form button")


def wait_connected(page: Page, timeout: float) -> None:
    page.wait_for_selector('#state[data-state="open"]', timeout=timeout * SECONDS)


def heard(page: Page, text: str) -> None:
    page.locator("#log li", has_text=text).first.wait_for(timeout=10 * SECONDS)


def test_two_pages_chat_through_nginx_and_survive_a_restart(aiohttp_nginx_container: ContainerFactory, browser: BrowserContext) -> None:
    port = free_port()  # fixed, so the pages find the server at the same address after the restart
    app = aiohttp_nginx_container(
        EXAMPLES / "chat", dockerfile=EXAMPLES / "chat" / "Dockerfile", docker_args=["--publish", f"127.0.0.1:{port}:80"]
    )
    alice, bob = browser.new_page(), browser.new_page()
    for page in (alice, bob):
        page.goto(f"http://127.0.0.1:{port}/")
        wait_connected(page, 10)

    say(alice, "hello bob")
    heard(bob, "hello bob")
    say(bob, "hello alice")
    heard(alice, "hello alice")

    app.restart()  # docker stop (SIGTERM: the app closes every websocket with 1001), then start
    for page in (alice, bob):
        # the close each page saw is the app's own, sent through nginx while it still relayed
        page.wait_for_selector("#state[data-last-close]", state="attached", timeout=20 * SECONDS)
        assert page.get_attribute("#state", "data-last-close") == "1001", page.inner_text("#state")
        wait_connected(page, 30)  # reconnected by itself, with backoff

    say(alice, "still there?")
    heard(bob, "still there?")
    say(bob, "yes")
    heard(alice, "yes")
