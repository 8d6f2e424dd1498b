"""Issue 20, the nginx side: each test is an attack that got through the generated config, run against the real stack.

Probe spellings (finding 2), PROXY protocol and X-Forwarded-For trust (3), X-Forwarded-Host against ALLOWED_HOSTS (4),
nginx's own answers (8). Requests are written byte for byte on a socket: the request line is part of each attack.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from tests.host.conftest import HostStack
from tests.support import APPS, wait_until

Answer = Tuple[int, Dict[str, str], bytes]
Start = Callable[..., HostStack]


def exchange(port: int, raw: bytes) -> bytes:
    """One request as written; the whole answer (the request asks to close, nginx closes after errors)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(raw)
        answer = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            data = conn.recv(65536)
            if not data:
                break
            answer += data
        return answer


def split(answer: bytes) -> Answer:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def get(port: int, target: str, host: Optional[str] = "example.com", proxy: bytes = b"", **headers: str) -> Answer:
    lines = [f"GET {target} HTTP/1.1", *([f"Host: {host}"] if host is not None else []), "Connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return split(exchange(port, proxy + ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")))


def proxy_header(source: str) -> bytes:
    return f"PROXY TCP4 {source} 127.0.0.1 40000 80\r\n".encode()


@pytest.fixture
def start(open_tmp: Path) -> Iterator[Start]:
    """Start the security test app (`trust`: /client reports what it was told) with some variables; stopped after."""
    started: List[HostStack] = []

    def run(env: Dict[str, str], ready: Optional[bytes] = None, static: bool = False) -> HostStack:
        app_dir = open_tmp / f"app{len(started)}"
        shutil.copytree(APPS / "trust", app_dir)
        if static:
            (app_dir / "static" / "dir").mkdir(parents=True)
            (app_dir / "static" / "dir" / "file.txt").write_text("a file\n")
        stack = HostStack(app_dir, {"RUNTIME_DIR": str(open_tmp / f"runtime{len(started)}"), **env})
        started.append(stack)
        first = (ready or b"") + b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"

        def up() -> bool:
            if stack.proc.poll() is not None:
                return True
            try:
                return exchange(stack.port, first).startswith(b"HTTP/1.1 200")
            except OSError:
                return False

        wait_until(up, 30, "the stack")
        assert stack.proc.poll() is None, stack.output
        return stack

    yield run
    for stack in started:
        if stack.proc.poll() is None:
            stack.stop(timeout=20)


# --- finding 2: the probes answer their exact paths only; every other spelling takes the normal path

SPELLINGS = [
    "//_aiohttp-nginx/readyz",
    "/%5faiohttp-nginx/readyz",
    "/x/../_aiohttp-nginx/readyz",
    "/_aiohttp-nginx/%72eadyz",
    "/api/..%2f_aiohttp-nginx/readyz",
    "/_aiohttp-nginx//readyz",
    "//_aiohttp-nginx/livez",
    "/_aiohttp-nginx/%6civez",
    "/_aiohttp-nginx/readyz/",
    "/_aiohttp-nginx/READYZ",
]
# outside the reserved prefix once normalised: ordinary requests for the app
ORDINARY = ["/_aiohttp-nginx", "/_aiohttp-nginx/../client", "/_aiohttp-nginx?x"]


def logged(stack: HostStack, target: str) -> bool:
    return f'"GET {target} HTTP/1.1"' in stack.output


def test_a_probe_spelled_otherwise_never_reaches_the_app_and_is_host_checked_and_logged(start: Start) -> None:
    stack = start({"ALLOWED_HOSTS": "example.com", "NGINX_WORKER_PROCESSES": "1"})
    for target in SPELLINGS:
        status, headers, body = get(stack.port, target)
        # nginx's own one-line 404 (the reserved prefix), not the app's "404: Not Found"
        assert (status, body) == (404, b"404 Not Found\n"), (target, status, body)
        assert get(stack.port, target, host="evil.example")[0] == 421, target
    for target in ORDINARY:
        assert get(stack.port, target, host="evil.example")[0] == 421, target
    wait_until(lambda: all(logged(stack, t) for t in SPELLINGS + ORDINARY), 10, "an access-log line for every spelling")


def test_the_exact_probes_answer_whatever_the_host_and_go_unlogged(start: Start) -> None:
    stack = start({"ALLOWED_HOSTS": "example.com", "NGINX_WORKER_PROCESSES": "1"})
    assert get(stack.port, "/_aiohttp-nginx/readyz", host="evil.example")[:3:2] == (200, b"ready\n")
    assert split(exchange(stack.port, b"GET /_aiohttp-nginx/livez HTTP/1.0\r\n\r\n"))[:3:2] == (200, b"alive\n")  # no Host at all
    get(stack.port, "/client?after-the-probes")  # one worker: its line is written after any line of the probes'
    wait_until(lambda: logged(stack, "/client?after-the-probes"), 10, "the line of the request after the probes")
    assert "_aiohttp-nginx/readyz" not in stack.output and "_aiohttp-nginx/livez" not in stack.output, stack.output


# --- finding 3: PROXY protocol and X-Forwarded-For


def through(send: Callable[[], Answer]) -> Answer:
    """The first answer that is not NGINX_CLIENT_RATE's 429 (the bucket empties at one request a second)."""
    return wait_until(lambda: (lambda answer: answer if answer[0] != 429 else None)(send()), 10, "an answer under the rate")


def limited(send: Callable[[int], Answer], most: int = 5) -> Optional[Answer]:
    """Send until nginx answers 429 (NGINX_CLIENT_RATE=1 passes two at once: the burst defaults to the rate)."""
    for n in range(most):
        answer = send(n)
        if answer[0] == 429:
            return answer
    return None


def test_a_proxy_header_from_an_untrusted_peer_is_not_believed(start: Start) -> None:
    # the balancer is 192.0.2.0/24; this test connects from 127.0.0.1
    stack = start(
        {"PROXY_PROTOCOL": "1", "FORWARDED_ALLOW_IPS": "192.0.2.0/24", "NGINX_CLIENT_RATE": "1"},
        ready=proxy_header("198.51.100.1"),
    )
    spoofed = {"X_Forwarded_Proto": "https", "X_Forwarded_Host": "evil.example"}
    status, _, body = through(lambda: get(stack.port, "/client", proxy=proxy_header("6.6.6.6"), **spoofed))
    seen = json.loads(body)
    assert (status, seen["remote"], seen["scheme"], seen["host"]) == (200, "127.0.0.1", "http", "example.com"), seen
    # naming a trusted address as the PROXY source unlocks nothing
    status, _, body = through(lambda: get(stack.port, "/client", proxy=proxy_header("192.0.2.10"), X_Forwarded_Proto="https"))
    seen = json.loads(body)
    assert (status, seen["remote"], seen["scheme"]) == (200, "127.0.0.1", "http"), seen
    # and rotating the PROXY source does not dodge NGINX_CLIENT_RATE (1, burst 1): one bucket, 127.0.0.1's
    assert limited(lambda n: get(stack.port, "/client", proxy=proxy_header(f"6.6.6.{n}")))


def test_only_a_valid_address_from_a_trusted_x_forwarded_for_becomes_the_client(start: Start) -> None:
    stack = start({"PROXY_PROTOCOL": "1", "FORWARDED_ALLOW_IPS": "127.0.0.1,192.0.2.0/24"}, ready=proxy_header("198.51.100.1"))
    # from the trusted balancer, the PROXY header names the client
    seen = json.loads(get(stack.port, "/client", proxy=proxy_header("6.6.6.6"))[2])
    assert seen["remote"] == "6.6.6.6", seen
    # behind a trusted proxy (192.0.2.10), one hop of X-Forwarded-For counts: only a real address
    for junk in ["...", "cafe", "1.2.3.4:80", "::::", "999.1.1.1", "1.2.3.4 5.6.7.8"]:
        seen = json.loads(get(stack.port, "/client", proxy=proxy_header("192.0.2.10"), X_Forwarded_For=junk)[2])
        assert seen["remote"] == "192.0.2.10", (junk, seen)
    for address in ["203.0.113.9", "2001:db8::7", "::ffff:1.2.3.4"]:
        seen = json.loads(get(stack.port, "/client", proxy=proxy_header("192.0.2.10"), X_Forwarded_For=f"1.1.1.1, {address}")[2])
        assert seen["remote"] == address, (address, seen)


def test_with_star_every_peer_is_a_balancer_whose_proxy_header_names_the_client(start: Start) -> None:
    # `*` is for balancers that preserve client addresses: the documented risk is this very test's client choosing
    stack = start({"PROXY_PROTOCOL": "1", "FORWARDED_ALLOW_IPS": "*"}, ready=proxy_header("198.51.100.1"))
    seen = json.loads(get(stack.port, "/client", proxy=proxy_header("6.6.6.6"), X_Forwarded_For="1.1.1.1, cafe")[2])
    assert seen["remote"] == "6.6.6.6", seen
    assert "duplicate network" not in stack.output


def test_with_star_the_client_a_proxy_header_names_is_not_trusted_in_turn(start: Start) -> None:
    # the attack (review of issue 20): behind a balancer that preserves client addresses (`*`), the address the PROXY
    # header names is the client's own; `*` also made that address "trusted", so every client chose its address,
    # scheme, host and request id through X-Forwarded-*, and dodged NGINX_CLIENT_RATE by rotating X-Forwarded-For
    stack = start({"PROXY_PROTOCOL": "1", "FORWARDED_ALLOW_IPS": "*", "NGINX_CLIENT_RATE": "1"}, ready=proxy_header("198.51.100.1"))
    spoofed = {"X_Forwarded_For": "7.7.7.7", "X_Forwarded_Proto": "https", "X_Forwarded_Host": "evil.example", "X_Request_ID": "chosen-id"}
    status, _, body = through(lambda: get(stack.port, "/client", proxy=proxy_header("203.0.113.5"), **spoofed))
    seen = json.loads(body)
    assert (status, seen["remote"], seen["scheme"], seen["host"]) == (200, "203.0.113.5", "http", "example.com"), seen
    assert seen["headers"]["x-request-id"] != "chosen-id", seen
    # one bucket per client the balancer names, whatever X-Forwarded-For says
    assert limited(lambda n: get(stack.port, "/client", proxy=proxy_header("203.0.113.6"), X_Forwarded_For=f"7.7.7.{n}"))


def test_clients_behind_one_trusted_proxy_get_their_own_rate_limit(start: Start) -> None:
    stack = start(
        {"PROXY_PROTOCOL": "1", "FORWARDED_ALLOW_IPS": "127.0.0.1,192.0.2.0/24", "NGINX_CLIENT_RATE": "1"},
        ready=proxy_header("198.51.100.1"),
    )
    behind = proxy_header("192.0.2.10")
    assert limited(lambda n: get(stack.port, "/client", proxy=behind, X_Forwarded_For="203.0.113.1"))
    # another client of the same proxy has a bucket of its own
    assert get(stack.port, "/client", proxy=behind, X_Forwarded_For="203.0.113.2")[0] == 200


def test_clients_behind_one_trusted_balancer_get_their_own_rate_limit_without_proxy_protocol(start: Start) -> None:
    stack = start({"FORWARDED_ALLOW_IPS": "127.0.0.1", "NGINX_CLIENT_RATE": "1"})
    assert limited(lambda n: get(stack.port, "/client", X_Forwarded_For="203.0.113.1"))
    assert get(stack.port, "/client", X_Forwarded_For="203.0.113.2")[0] == 200
    # junk is no client: it counts as the balancer itself
    assert limited(lambda n: get(stack.port, "/client", X_Forwarded_For="cafe"))
    # nginx's realip reads these leniently (0.0.0.0, 1.0.2.3, 1.2.3.4): none is an address as written
    for junk in ("...", "1..2.3", "001.2.3.4", "1.2.3.4:80", "cafe", "::::", "1.2.3"):
        seen = json.loads(through(lambda: get(stack.port, "/client", X_Forwarded_For=junk))[2])  # noqa: B023
        assert seen["remote"] == "127.0.0.1", (junk, seen)
    for address in ("203.0.113.9", "2001:db8::7"):
        seen = json.loads(through(lambda: get(stack.port, "/client", X_Forwarded_For=f"cafe, {address}"))[2])  # noqa: B023
        assert seen["remote"] == address, (address, seen)


# --- finding 4: ALLOWED_HOSTS holds for the host the app sees


def test_a_trusted_x_forwarded_host_is_held_to_allowed_hosts(start: Start) -> None:
    stack = start({"ALLOWED_HOSTS": "example.com,*.example.org", "FORWARDED_ALLOW_IPS": "127.0.0.1"})
    assert get(stack.port, "/client", X_Forwarded_Host="evil.attacker.net")[0] == 421
    assert get(stack.port, "/client", X_Forwarded_Host="evil.attacker.net, example.com")[0] == 421
    for fhost, seen_host in [
        ("www.example.org", "www.example.org"),
        ("example.com:8443", "example.com:8443"),
        ("[evil]", "example.com"),
        ("_", "example.com"),
        ("a_b.example.org", "example.com"),
        ("WWW.Example.org.", "WWW.Example.org."),
    ]:
        status, _, body = get(stack.port, "/client", X_Forwarded_Host=fhost)
        assert status == 200 and json.loads(body)["host"] == seen_host, (fhost, status, body)
    # without X-Forwarded-Host the Host header is what the app sees, and what is checked
    assert json.loads(get(stack.port, "/client", host="EXAMPLE.com:8080")[2])["host"] == "EXAMPLE.com:8080"
    assert get(stack.port, "/client", host="evil.example")[0] == 421
    assert get(stack.port, "/client", host="evil.example", X_Forwarded_Host="example.com")[0] == 200  # the balancer's word


# --- finding 8: nginx's own answers are one line of text, or JSON on request, with its content type


def assert_one_line(answer: Answer, status: int, text: str) -> None:
    code, headers, body = answer
    assert (code, headers.get("content-type"), body) == (status, "text/plain", f"{text}\n".encode()), answer


def test_nginx_answers_misdirected_and_malformed_requests_in_one_line(start: Start) -> None:
    stack = start({"ALLOWED_HOSTS": "example.com"}, static=True)
    assert_one_line(get(stack.port, "/client", host="evil.example"), 421, "421 Misdirected Request")
    code, headers, body = get(stack.port, "/client", host="evil.example", Accept="application/json")
    assert (code, headers["content-type"], json.loads(body)) == (421, "application/json", {"status": 421, "error": "Misdirected Request"})
    for target in ["/%", "/%00", "/a%2"]:
        assert_one_line(get(stack.port, target), 400, "400 Bad Request")
    unknown_coding = b"GET / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: gzip\r\n\r\n"
    assert_one_line(split(exchange(stack.port, unknown_coding)), 501, "501 Not Implemented")
    assert_one_line(split(exchange(stack.port, b"GET / HTTP/2.0\r\nHost: example.com\r\n\r\n")), 505, "505 HTTP Version Not Supported")
    # refused before any location, with a body over NGINX_MAX_UPLOAD: the error page must not refuse it again
    trace = b"TRACE / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\n"
    assert_one_line(split(exchange(stack.port, trace)), 405, "405 Method Not Allowed")
    code, headers, body = get(stack.port, "/static/dir")
    assert (code, headers["location"], headers["content-type"], body) == (301, "/static/dir/", "text/plain", b"301 Moved Permanently\n")
    assert_one_line(get(stack.port, "/static/dir/file.txt", Range="bytes=100-200"), 416, "416 Range Not Satisfiable")
    assert_one_line(get(stack.port, "/static/dir/file.txt", If_Match='"other"'), 412, "412 Precondition Failed")


def test_nginx_answers_its_rate_limit_in_one_line_with_its_content_type(start: Start) -> None:
    stack = start({"NGINX_CLIENT_RATE": "1"})
    answer = limited(lambda n: get(stack.port, "/client"))
    assert answer is not None
    code, headers, body = answer
    assert (code, headers["content-type"], headers["retry-after"]) == (429, "text/plain", "1")
    assert body == b"too many requests from this client: retry later\n"
    code, headers, body = get(stack.port, "/client", Accept="application/json")
    assert (code, headers["content-type"], json.loads(body)["status"]) == (429, "application/json", 429), body
    assert "x-request-id" in headers


def test_nginx_answers_overload_in_one_line_with_its_content_type(start: Start) -> None:
    stack = start({"NGINX_CLIENT_CONNECTIONS": "1"})
    # one request in flight (its body still coming) fills the client's one slot: the next one is overloaded
    with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as held:
        held.sendall(b"POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100\r\n\r\npart")
        code, headers, body = wait_until(lambda: (lambda a: a if a[0] != 200 else None)(get(stack.port, "/client")), 10, "not a 200")
        assert (code, headers["content-type"], headers["retry-after"], body) == (503, "text/plain", "1", b"overloaded: retry later\n")
        code, headers, body = get(stack.port, "/client", Accept="application/json")
    assert (code, headers["content-type"]) == (503, "application/json")
    assert json.loads(body) == {"status": 503, "error": "overloaded: retry later"}


# --- finding 7: a value `check` accepts, nginx accepts at start


def test_a_client_burst_of_zero_starts_and_refuses_the_second_request_at_once(start: Start) -> None:
    stack = start({"NGINX_CLIENT_RATE": "1", "NGINX_CLIENT_BURST": "0"})
    wait_until(lambda: get(stack.port, "/client")[0] == 200, 10, "a request through NGINX_CLIENT_RATE")
    assert get(stack.port, "/client")[0] == 429
