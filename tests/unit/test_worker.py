"""The default worker: the app sees nginx's client address and scheme, not the unix socket's."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Dict, Optional

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from aiohttp_nginx_base import worker
from aiohttp_nginx_base.worker import Worker, add_real_client, apply_client_headers


class _Transport:
    """Just enough of a transport for make_mocked_request: a peer address, no TLS."""

    def __init__(self, peer: Optional[Any]) -> None:
        self.peer = peer

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default


def seen_by_the_app(headers: Dict[str, str], peer: Optional[Any] = ("192.0.2.10", 40000)) -> Dict[str, Any]:
    """What a handler sees of a request with these headers once the worker has applied them."""
    request = make_mocked_request("GET", "/path?q=1", headers={"Host": "example.com", **headers}, transport=_Transport(peer))
    r = apply_client_headers(request)
    return {"remote": r.remote, "scheme": r.scheme, "url": str(r.url), "secure": r.secure, "host": r.host}


def test_x_real_ip_and_x_forwarded_proto_become_remote_and_scheme() -> None:
    seen = seen_by_the_app({"X-Real-IP": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert seen["remote"] == "203.0.113.7"
    assert seen["scheme"] == "https"
    assert seen["secure"] is True
    assert seen["url"] == "https://example.com/path?q=1"


def test_without_the_headers_the_request_is_unchanged() -> None:
    seen = seen_by_the_app({})
    assert seen == {"remote": "192.0.2.10", "scheme": "http", "url": "http://example.com/path?q=1", "secure": False, "host": "example.com"}


def test_without_the_headers_a_unix_socket_peer_stays_as_aiohttp_reports_it() -> None:
    assert seen_by_the_app({}, peer=None)["remote"] is None


def test_x_real_ip_alone_keeps_the_scheme() -> None:
    seen = seen_by_the_app({"X-Real-IP": "2001:db8::1"})
    assert (seen["remote"], seen["scheme"]) == ("2001:db8::1", "http")


def test_x_forwarded_proto_alone_keeps_the_remote() -> None:
    seen = seen_by_the_app({"X-Forwarded-Proto": "https"})
    assert (seen["remote"], seen["scheme"], seen["url"]) == ("192.0.2.10", "https", "https://example.com/path?q=1")


@pytest.mark.parametrize("proto", ["ftp", "javascript", ""])
def test_an_unknown_forwarded_proto_is_ignored(proto: str) -> None:
    seen = seen_by_the_app({"X-Forwarded-Proto": proto})
    assert seen["scheme"] == "http"
    assert seen["url"].startswith("http://")


def test_an_empty_x_real_ip_is_ignored() -> None:
    assert seen_by_the_app({"X-Real-IP": ""})["remote"] == "192.0.2.10"


def test_a_real_server_with_the_worker_hook_reports_nginxs_view() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"remote": request.remote, "scheme": request.scheme, "url": str(request.url)})

    async def go() -> Any:
        app = add_real_client(web.Application())
        app.router.add_get("/who", handler)
        async with TestClient(TestServer(app)) as client:
            forwarded = await client.get("/who", headers={"X-Real-IP": "198.51.100.4", "X-Forwarded-Proto": "https"})
            direct = await client.get("/who")
            return await forwarded.json(), await direct.json()

    forwarded, direct = asyncio.run(go())
    assert forwarded["remote"] == "198.51.100.4"
    assert forwarded["scheme"] == "https"
    assert forwarded["url"].startswith("https://")
    assert direct["remote"] == "127.0.0.1"
    assert direct["scheme"] == "http"


def test_add_real_client_wraps_the_request_factory_once_and_adds_no_middleware() -> None:
    app = web.Application()
    add_real_client(app)
    wrapped = app._make_request
    add_real_client(app)
    assert app._make_request is wrapped
    assert list(app.middlewares) == []


def test_wrap_covers_an_app_and_what_a_factory_returns() -> None:
    app = web.Application()
    assert worker._wrap(app) is app
    assert getattr(app, worker._WRAPPED)

    made = web.Application()

    async def create_app() -> web.Application:
        return made

    factory = worker._wrap(create_app)
    assert asyncio.run(factory()) is made
    assert getattr(made, worker._WRAPPED)


def test_wrap_leaves_anything_else_for_aiohttp_to_report() -> None:
    def not_an_app() -> None:
        return None

    assert worker._wrap(not_an_app) is not_an_app


def _worker_on(*sockets: socket.socket) -> Worker:
    w = Worker.__new__(Worker)  # only the listening sockets matter here
    w.sockets = list(sockets)
    return w


def test_the_headers_are_trusted_only_on_nginxs_unix_socket() -> None:
    with socket.socket(socket.AF_UNIX) as unix, socket.socket(socket.AF_INET) as tcp:
        assert _worker_on(unix)._behind_nginx() is True
        assert _worker_on(tcp)._behind_nginx() is False  # a client could forge X-Real-IP
        assert _worker_on(unix, tcp)._behind_nginx() is False
        assert _worker_on()._behind_nginx() is False
