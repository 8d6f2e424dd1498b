"""Slow and hostile clients are nginx's problem, not the app's."""

from __future__ import annotations

import socket
import time
from typing import List

import pytest

from tests.support import request, wait_until, websocket_echo


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


def _one_exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(raw)
        answer = b""
        for _ in range(1000):
            data = conn.recv(65536)
            if not data:
                break
            answer += data
        return answer


@pytest.mark.parametrize(
    "attack",
    [
        # a control character nginx passes on and aiohttp's parser refuses: its 400 echoed the header line
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Secret-Marker: top\x01secret\r\nConnection: close\r\n\r\n",
        # with ALLOWED_HOSTS unset, a Host request.url cannot be built from: a 500 and a 55-line traceback
        b"GET /url HTTP/1.1\r\nHost: exa\xffmple.com\r\nX-Secret-Marker: topsecret\r\nConnection: close\r\n\r\n",
        b"GET /url HTTP/1.1\r\nHost: example.com:99999\r\nX-Secret-Marker: topsecret\r\nConnection: close\r\n\r\n",
    ],
    ids=["control-character-in-a-header", "host-not-utf-8", "host-port-out-of-range"],
)
def test_a_malformed_header_gets_400_and_at_most_one_log_line_never_a_traceback_or_an_echo(host_stack, attack: bytes) -> None:
    stack = host_stack("trust")
    before = len(stack.lines)
    answer = _one_exchange(stack.port, attack)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"secret" not in answer, answer  # nothing the client sent is echoed back
    # the access log line (flushed within 1 s) says the exchange is over; then count what it left
    wait_until(lambda: any('" 400 ' in line for line in stack.lines[before:]), 10, "the access log line")
    assert request(stack.port, "/")[0] == 200  # and the stack still serves
    # (a worker that was still booting may say so meanwhile)
    logged = [line for line in stack.lines[before:] if '" 400 ' not in line and '"GET / HTTP' not in line and "[INFO]" not in line]
    assert len(logged) <= 1, "".join(logged)  # one line from the worker at most, not a traceback
    assert "Traceback" not in "".join(logged) and "secret" not in "".join(logged), "".join(logged)
