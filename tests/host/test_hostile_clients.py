"""Slow and hostile clients are nginx's problem, not the app's."""

from __future__ import annotations

import socket
import time
from typing import List

import pytest

from tests.support import request, websocket_echo


def test_500_slow_header_senders_do_not_delay_a_normal_request(host_stack) -> None:
    stack = host_stack()
    slow: List[socket.socket] = []
    latencies: List[float] = []
    try:
        for _ in range(500):
            conn = socket.create_connection(("127.0.0.1", stack.port), timeout=5)
            slow.append(conn)
        # the slowloris pattern: every connection trickles its request line one byte at a time
        for byte in b"GET / HTTP/1.1\r\n"[:10]:
            for conn in slow:
                conn.sendall(bytes([byte]))
            started = time.monotonic()
            assert request(stack.port, "/")[0] == 200
            latencies.append(time.monotonic() - started)
    finally:
        for conn in slow:
            conn.close()
    # typical requests are untouched; the worst may meet one scheduler stall, but a server held by the
    # trickling connections would take seconds or refuse
    latencies.sort()
    assert latencies[len(latencies) // 2] < 0.1 and latencies[-1] < 1.0, latencies


def test_a_body_over_the_limit_is_refused_with_413_without_reaching_the_app(host_stack) -> None:
    stack = host_stack(env={"NGINX_MAX_UPLOAD": "1k"})
    status, _, headers = request(stack.port, "/upload", method="POST", body=b"x" * 4096)
    assert status == 413
    assert headers.get("server") == "nginx"  # no version: server_tokens off


@pytest.mark.parametrize("what", ["uri", "header"])
def test_an_oversized_uri_or_header_gets_4xx_from_nginx(host_stack, what: str) -> None:
    stack = host_stack()
    huge = "a" * 20000
    if what == "uri":
        status = request(stack.port, "/" + huge)[0]
    else:
        status = request(stack.port, "/", headers={"X-Huge": huge})[0]
    assert 400 <= status < 500


@pytest.mark.slow
def test_an_idle_websocket_outlives_nginx_default_60s_timeout(host_stack) -> None:
    stack = host_stack()
    assert websocket_echo(stack.port, "still here", idle=65) == "echo: still here"
