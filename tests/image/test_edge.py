"""The edge of the stack, on real containers: what a load balancer, a spoofing client and a browser see.

Every container here sits on a Docker network this module creates. A second container on that network plays the
load balancer (the trusted peer); requests through the port published on 127.0.0.1 arrive from the network's
gateway, which no test trusts (the spoofing client). Both send the same forged forwarding headers.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from pytest_aiohttp_nginx.container import build_app_image as build_image

from tests.image.helpers import LABEL, SESSION, docker, exit_code, inspect, logs, tail
from tests.support import answers, request, wait_until

pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]

SCENARIOS = Path(__file__).resolve().parent / "scenarios"

# The forged headers every test client sends: from an untrusted peer none of them may count.
SPOOFED = {
    "X-Forwarded-For": "6.6.6.6, 203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "spoofed.example",
    "Forwarded": "for=6.6.6.6;proto=https;host=spoofed.example",
    "X-Real-IP": "6.6.6.6",
    "X-Request-ID": "lb-chosen-id.42",
}
REQUEST_ID = re.compile(r"[0-9a-f]{32}")  # nginx's $request_id

# Runs inside the trusted client container: one request, printed as JSON.
CLIENT_SCRIPT = r"""
import http.client, json, sys
host, port, path, headers = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
conn = http.client.HTTPConnection(host, port, timeout=10)
conn.request("GET", path, headers=headers)
r = conn.getresponse()
print(json.dumps({"status": r.status, "headers": {k.lower(): v for k, v in r.getheaders()}, "body": r.read().decode()}))
"""


class Edge:
    """The module's network, its trusted client container and the app containers started on it."""

    def __init__(self, image: str, app: str) -> None:
        self.image, self.app = image, app
        self.name = f"ainbtest-edge-{SESSION}"
        self.containers: List[str] = []
        docker("network", "create", "--label", f"{LABEL}={SESSION}", self.name, timeout=60)
        # the load balancer stand-in: any image with Python will do, the app image has it
        self.client = self.run(app, "--entrypoint", "python", args=["-c", "import time; time.sleep(1700)"])
        self.client_ip = self.address(self.client)
        self.gateway = inspect(self.client, "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}")

    def run(self, image: str, *options: str, args: Optional[List[str]] = None) -> str:
        name = f"{self.name}-{len(self.containers)}"
        docker("run", "-d", "--name", name, "--label", f"{LABEL}={SESSION}", "--network", self.name, *options, image, *(args or []))
        self.containers.append(name)
        return name

    def address(self, container: str) -> str:
        return inspect(container, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")

    def app_container(self, env: Dict[str, str], ready: bool = True, image: Optional[str] = None) -> Tuple[str, int]:
        """The test app with `env`, published on 127.0.0.1; waits until it answers unless told not to."""
        options = [f"--env={k}={v}" for k, v in env.items()]
        container = self.run(image or self.app, "--publish", "127.0.0.1::80", *options)
        port = int(docker("port", container, "80/tcp").stdout.splitlines()[0].rsplit(":", 1)[1])
        if ready:
            try:
                wait_until(lambda: answers(port) or exit_code(container) is not None, 60, f"{container} to answer", interval=0.2)
            except AssertionError:
                raise AssertionError(f"{container} did not answer; its logs:\n{tail(logs(container))}") from None
            assert exit_code(container) is None, tail(logs(container))
        return container, port

    def from_client(self, container: str, path: str, headers: Dict[str, str]) -> Dict[str, Any]:
        """A request from the trusted client container to the app container, over the network."""
        result = docker("exec", self.client, "python", "-c", CLIENT_SCRIPT, self.address(container), "80", path, json.dumps(headers))
        return dict(json.loads(result.stdout))

    def close(self) -> None:
        if self.containers:
            docker("rm", "-f", "-v", *self.containers, timeout=120, check=False)
        docker("network", "rm", self.name, timeout=60, check=False)


@pytest.fixture(scope="module")
def edge(image: str, app_images: Dict[str, str]) -> Iterator[Edge]:
    made = Edge(image, app_images["full"])
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="module")
def trusting(edge: Edge) -> Tuple[str, int]:
    """The app trusting the client container's address only; small upload limit for the 413 case."""
    return edge.app_container({"FORWARDED_ALLOW_IPS": edge.client_ip, "NGINX_MAX_UPLOAD": "1k"})


def raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send bytes as they are (what http.client refuses to send) and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        chunks = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def split_response(data: bytes) -> Tuple[int, Dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def exec_bytes(container: str, *command: str) -> bytes:
    return subprocess.run(["docker", "exec", container, *command], stdout=subprocess.PIPE, check=True, timeout=30).stdout


# --- 1. FORWARDED_ALLOW_IPS: the same forged headers from an untrusted and from a trusted peer


def test_an_untrusted_peer_cannot_spoof_client_scheme_or_host(edge: Edge, trusting: Tuple[str, int]) -> None:
    container, port = trusting
    status, body, headers = request(port, "/client", headers=SPOOFED)
    seen = json.loads(body)
    print(f"\nuntrusted peer {edge.gateway} sent {SPOOFED}\n  the app saw {seen}")
    assert status == 200
    assert (seen["remote"], seen["scheme"], seen["host"]) == (edge.gateway, "http", f"127.0.0.1:{port}"), seen
    assert seen["x_forwarded_for"] == [edge.gateway], seen
    # Forwarded is nginx's rebuild from the same conclusion, never the client's
    assert seen["forwarded"] == [f'for={edge.gateway};proto=http;host="127.0.0.1:{port}"'], seen
    # its request id is not taken either: nginx made one, the app and the response carry it
    assert REQUEST_ID.fullmatch(headers["x-request-id"]), headers
    assert seen["request_id"] == headers["x-request-id"], (seen, headers)


def test_a_trusted_peer_sets_client_scheme_and_host(edge: Edge, trusting: Tuple[str, int]) -> None:
    container, _ = trusting
    answer = edge.from_client(container, "/client", SPOOFED)
    seen = json.loads(answer["body"])
    print(f"\ntrusted peer {edge.client_ip} sent {SPOOFED}\n  the app saw {seen}")
    assert answer["status"] == 200
    # recursive: the first address from the right that is not trusted (6.6.6.6 is only what 203.0.113.9 claimed)
    assert (seen["remote"], seen["scheme"], seen["host"]) == ("203.0.113.9", "https", "spoofed.example"), seen
    assert seen["url"].startswith("https://spoofed.example/"), seen
    assert seen["x_forwarded_for"] == [f"6.6.6.6, 203.0.113.9, {edge.client_ip}"], seen
    assert seen["forwarded"] == ['for=203.0.113.9;proto=https;host="spoofed.example"'], seen
    assert answer["headers"]["x-request-id"] == seen["request_id"] == "lb-chosen-id.42", answer


def test_the_access_log_shows_the_client_realip_concluded(edge: Edge, trusting: Tuple[str, int]) -> None:
    container, port = trusting
    untrusted = request(port, "/client?probe=untrusted", headers=SPOOFED)[2]["x-request-id"]
    edge.from_client(container, "/client?probe=trusted", SPOOFED)

    def both() -> Optional[List[str]]:
        found = [x for x in logs(container).splitlines() if "probe=" in x]
        return found if any("probe=trusted" in x for x in found) and any("probe=untrusted" in x for x in found) else None

    lines = wait_until(both, 10, "both access log lines")
    by_probe = {("trusted" if "probe=trusted" in x else "untrusted"): x for x in lines}
    assert by_probe["untrusted"].split()[0] == edge.gateway, lines
    assert by_probe["trusted"].split()[0] == "203.0.113.9", lines
    # combined keeps its fields; the request id is appended last
    assert by_probe["untrusted"].split()[-1] == untrusted, lines
    assert by_probe["trusted"].split()[-1] == "lb-chosen-id.42", lines


def test_a_malformed_request_id_from_a_trusted_peer_is_replaced(edge: Edge, trusting: Tuple[str, int]) -> None:
    container, _ = trusting
    for bad in ("x" * 300, "a b", "<script>", "id\"quote"):
        answer = edge.from_client(container, "/client", {"X-Request-ID": bad})
        seen = json.loads(answer["body"])
        assert REQUEST_ID.fullmatch(seen["request_id"] or ""), (bad, seen)
        assert answer["headers"]["x-request-id"] == seen["request_id"]


def test_forwarded_allow_ips_rejects_a_bad_entry_in_one_line(edge: Edge) -> None:
    result = subprocess.run(
        ["docker", "run", "--rm", "--label", f"{LABEL}={SESSION}", "-e", "FORWARDED_ALLOW_IPS=10.0.0.0/8,not-an-ip", edge.image],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "FORWARDED_ALLOW_IPS='10.0.0.0/8,not-an-ip'" in lines[0], result.stderr


# --- PROXY_PROTOCOL=1


def proxied(port: int, source: str, headers: Dict[str, str]) -> Tuple[int, Dict[str, str], bytes]:
    head = f"PROXY TCP4 {source} 10.0.0.1 40000 80\r\n".encode()
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return split_response(raw(port, head + f"GET /client HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n{lines}\r\n".encode()))


@pytest.fixture(scope="module")
def proxy_protocol(edge: Edge) -> Tuple[str, int]:
    # the balancer is the docker gateway this test connects through (its PROXY header is believed only because
    # it is trusted, issue 20); 192.0.2.0/24 (TEST-NET-1) plays a trusted CDN in front of it
    container, port = edge.app_container({"PROXY_PROTOCOL": "1", "FORWARDED_ALLOW_IPS": f"192.0.2.0/24,{edge.gateway}"}, ready=False)
    wait_until(lambda: exit_code(container) is not None or proxied(port, "198.51.100.7", {})[0] == 200, 60, "PROXY answers")
    return container, port


def test_proxy_protocol_takes_the_client_from_the_proxy_header(proxy_protocol: Tuple[str, int]) -> None:
    _, port = proxy_protocol
    status, _, body = proxied(port, "198.51.100.7", SPOOFED)
    seen = json.loads(body)
    print(f"\nPROXY from 198.51.100.7 (untrusted) with {SPOOFED}\n  the app saw {seen}")
    assert (status, seen["remote"], seen["scheme"], seen["host"]) == (200, "198.51.100.7", "http", "app.example"), seen


def test_proxy_protocol_trusts_forwarded_headers_only_behind_a_trusted_proxy_address(proxy_protocol: Tuple[str, int]) -> None:
    _, port = proxy_protocol
    status, _, body = proxied(port, "192.0.2.10", SPOOFED)
    seen = json.loads(body)
    print(f"\nPROXY from 192.0.2.10 (trusted) with {SPOOFED}\n  the app saw {seen}")
    assert (status, seen["remote"], seen["scheme"], seen["host"]) == (200, "203.0.113.9", "https", "spoofed.example"), seen


def test_a_proxy_header_from_a_peer_not_in_forwarded_allow_ips_is_not_believed(edge: Edge) -> None:
    # issue 20: any TCP peer chose the client; the gateway is not the trusted balancer here
    container, port = edge.app_container({"PROXY_PROTOCOL": "1", "FORWARDED_ALLOW_IPS": "192.0.2.0/24"}, ready=False)
    wait_until(lambda: exit_code(container) is not None or proxied(port, "192.0.2.10", {})[0] == 200, 60, "PROXY answers")
    status, _, body = proxied(port, "192.0.2.10", SPOOFED)
    seen = json.loads(body)
    assert (status, seen["remote"], seen["scheme"], seen["host"]) == (200, edge.gateway, "http", "app.example"), seen


def test_proxy_protocol_without_forwarded_allow_ips_is_refused_in_one_line(edge: Edge) -> None:
    result = subprocess.run(
        ["docker", "run", "--rm", "--label", f"{LABEL}={SESSION}", "-e", "PROXY_PROTOCOL=1", edge.app],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2, result
    # the test app's prestart hook says one line of its own first
    lines = [line for line in result.stderr.strip().splitlines() if "prestart" not in line]
    assert len(lines) == 1 and "FORWARDED_ALLOW_IPS=" in lines[0] and "preserves client addresses" in lines[0], result.stderr


def test_proxy_protocol_refuses_a_request_without_the_header(proxy_protocol: Tuple[str, int]) -> None:
    _, port = proxy_protocol
    answer = raw(port, b"GET /client HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert not answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_proxy_protocol_healthcheck_stays_healthy(proxy_protocol: Tuple[str, int]) -> None:
    container, _ = proxy_protocol
    result = docker("exec", container, "aiohttp-nginx", "healthcheck", check=False)
    assert result.returncode == 0, result.stdout


# --- 3. ACCESS_LOG_FORMAT=json

# quotes, backslashes and control characters: must round-trip through escape=json unchanged
ESCAPED_AGENT = 'evil "agent" \\ back\x01\x1b[31m\x7f "},{"status":1'
HOSTILE = (
    b"GET /client?probe=escaped HTTP/1.1\r\nHost: app.example\r\n"
    b"User-Agent: " + ESCAPED_AGENT.encode() + b"\r\nConnection: close\r\n\r\n"
)
# bytes that are not UTF-8 in the path, the query, the agent and the referer
NOT_UTF8 = (
    b"GET /client\xff?q=%22\\quote\"\xc3\x28 HTTP/1.1\r\nHost: app.example\r\n"
    b"User-Agent: agent \xc3\x28\r\nReferer: http://r.example/\xff\xfe\r\nConnection: close\r\n\r\n"
)


def test_json_access_log_is_one_valid_object_per_line_whatever_the_headers(edge: Edge) -> None:
    container, port = edge.app_container({"ACCESS_LOG_FORMAT": "json", "ACCESS_LOG": "/tmp/access.log"})
    raw(port, HOSTILE)
    raw(port, NOT_UTF8)
    # UTF-8 as it is (http.client would send latin-1): valid values are logged unchanged
    plain_request = (
        "GET /client?probe=plain HTTP/1.1\r\nHost: x\r\nUser-Agent: café-agent\r\n"
        "Referer: http://ref.example/\r\nConnection: close\r\n\r\n"
    )
    _, headers, _ = split_response(raw(port, plain_request.encode()))

    def entries() -> Optional[List[Dict[str, Any]]]:
        text = exec_bytes(container, "cat", "/tmp/access.log")
        found = [json.loads(line.decode("utf-8")) for line in text.splitlines()]  # strict: valid UTF-8 and JSON
        # three connections, three lines, in no guaranteed order (nginx may log one after it closes another)
        wanted = (
            any(e.get("query") == "probe=plain" for e in found)
            and any(e.get("query") == "probe=escaped" for e in found)
            and any(e.get("user_agent") == "(not UTF-8)" for e in found)
        )
        return found if wanted else None

    found = wait_until(entries, 10, "the JSON lines of the three requests")
    assert all(isinstance(e, dict) for e in found) and len(found) >= 3, found
    plain = [e for e in found if e["query"] == "probe=plain"][-1]
    expected_keys = {"time", "client", "method", "path", "query", "status", "bytes_sent", "request_time",
                     "upstream_response_time", "request_id", "user_agent", "referer"}
    assert expected_keys <= set(plain), plain
    assert (plain["method"], plain["path"], plain["status"], plain["request_id"]) == ("GET", "/client", 200, headers["x-request-id"])
    assert (plain["user_agent"], plain["referer"], plain["client"]) == ("café-agent", "http://ref.example/", edge.gateway), plain
    escaped = [e for e in found if e["query"] == "probe=escaped"][-1]
    assert escaped["user_agent"] == ESCAPED_AGENT, escaped
    broken = [e for e in found if e["user_agent"] == "(not UTF-8)"]
    assert broken and (broken[-1]["path"], broken[-1]["query"], broken[-1]["referer"]) == ("(not UTF-8)",) * 3, broken


# --- 4. compression


def test_json_is_gzipped_for_clients_that_accept_it(trusting: Tuple[str, int]) -> None:
    _, port = trusting
    status, plain, plain_headers = request(port, "/json20k")
    status_gz, body, headers = request(port, "/json20k", headers={"Accept-Encoding": "gzip"})
    assert status == status_gz == 200
    assert "content-encoding" not in plain_headers
    assert headers.get("content-encoding") == "gzip" and "Accept-Encoding" in headers.get("vary", ""), headers
    assert gzip.decompress(body) == plain and len(body) < len(plain) / 4, (len(body), len(plain))
    print(f"\n/json20k: {len(plain)} bytes plain, {len(body)} gzipped")


def test_small_responses_are_not_compressed(trusting: Tuple[str, int]) -> None:
    _, port = trusting
    assert "content-encoding" not in request(port, "/", headers={"Accept-Encoding": "gzip"})[2]


def test_static_text_is_gzipped_and_a_precompressed_copy_is_served_as_is(trusting: Tuple[str, int]) -> None:
    _, port = trusting
    _, css, headers = request(port, "/static/app.css", headers={"Accept-Encoding": "gzip"})
    assert headers.get("content-encoding") == "gzip" and gzip.decompress(css).startswith(b".rule-0"), headers
    _, js, headers = request(port, "/static/app.js", headers={"Accept-Encoding": "gzip"})
    assert headers.get("content-encoding") == "gzip", headers
    assert gzip.decompress(js).startswith(b"// precompressed copy"), gzip.decompress(js)[:40]


def test_without_nginx_brotli_module_clients_asking_for_br_get_gzip(trusting: Tuple[str, int]) -> None:
    _, port = trusting
    headers = request(port, "/json20k", headers={"Accept-Encoding": "br, gzip"})[2]
    assert headers.get("content-encoding") == "gzip", headers


def test_with_nginx_brotli_module_installed_json_is_brotli_compressed(edge: Edge) -> None:
    # the user's one added line (scenarios/brotli.Dockerfile); the stack finds the module and loads it
    with_brotli = build_image(edge.app, SCENARIOS, SCENARIOS / "brotli.Dockerfile")
    _, port = edge.app_container({}, image=with_brotli)
    _, plain, _ = request(port, "/json20k")
    _, body, headers = request(port, "/json20k", headers={"Accept-Encoding": "br, gzip"})
    assert headers.get("content-encoding") == "br" and "Accept-Encoding" in headers.get("vary", ""), headers
    _, gzipped, _ = request(port, "/json20k", headers={"Accept-Encoding": "gzip"})
    print(f"\n/json20k: {len(plain)} bytes plain, {len(gzipped)} gzip, {len(body)} brotli")
    assert len(body) < len(gzipped) < len(plain)


@pytest.mark.parametrize("kind", ["event-stream", "plain"])
def test_an_unbuffered_stream_is_not_held_back(trusting: Tuple[str, int], kind: str) -> None:
    _, port = trusting
    path = "/events?s=20" + ("&type=plain" if kind == "plain" else "")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n".encode())
        received = b""
        started = time.monotonic()
        while b"\r\n\r\n" not in received or not _first_event(received):
            chunk = conn.recv(65536)  # the socket's 10 s timeout fails the test if the event is held back
            assert chunk, received
            received += chunk
        assert time.monotonic() - started < 10
        _, headers, _ = split_response(received)
        if kind == "event-stream":
            assert "content-encoding" not in headers, headers


def _first_event(data: bytes) -> bool:
    _, headers, body = split_response(data)
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    if headers.get("content-encoding") == "gzip":
        body = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body)
    return b"data: first" in body


def _dechunk(body: bytes) -> bytes:
    out = b""
    while b"\r\n" in body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0 or len(rest) < size:
            out += rest[:size]
            break
        out += rest[:size]
        body = rest[size + 2:]
    return out


# --- 5. static files


def test_static_dotfiles_are_not_served(trusting: Tuple[str, int]) -> None:
    _, port = trusting
    assert request(port, "/static/.env")[0] == 404
    assert request(port, "/static/hello.txt")[0] == 200


def test_static_symlinks_out_of_static_path_are_not_followed(trusting: Tuple[str, int]) -> None:
    container, port = trusting
    # the attack: root-owned links to root-owned files, which `disable_symlinks if_not_owner` would serve
    docker("exec", container, "ln", "-sf", "/etc/passwd", "/app/static/passwd.txt")
    docker("exec", container, "ln", "-sfn", "/etc", "/app/static/etc")
    for path in ("/static/passwd.txt", "/static/etc/passwd", "/static/etc/hostname"):
        status, body, _ = request(port, path)
        assert status == 404 and b"root:" not in body, (path, status, body[:80])


def test_static_files_keep_validators_and_get_a_cache_policy(trusting: Tuple[str, int]) -> None:
    _, port = trusting
    status, _, headers = request(port, "/static/hello.txt")
    assert status == 200 and headers.get("etag") and headers.get("last-modified"), headers
    assert headers.get("cache-control") == "no-cache", headers
    assert REQUEST_ID.fullmatch(headers.get("x-request-id", "")), headers
    assert request(port, "/static/hello.txt", headers={"If-None-Match": headers["etag"]})[0] == 304


def test_static_max_age_sets_cache_control(edge: Edge) -> None:
    _, port = edge.app_container({"STATIC_MAX_AGE": "3600"})
    assert request(port, "/static/hello.txt")[2].get("cache-control") == "public, max-age=3600"


# --- 6. headers and nginx's own answers


def test_a_16k_app_response_header_passes(trusting: Tuple[str, int]) -> None:
    _, port = trusting
    status, body, headers = request(port, "/big-header?kb=16")
    assert (status, body, len(headers.get("x-big", ""))) == (200, b"big header", 16 * 1024 - len("X-Big: \r\n"))


def test_a_request_header_nginx_accepts_reaches_the_app(trusting: Tuple[str, int]) -> None:
    _, port = trusting
    # just under nginx's 8 KiB line: aiohttp's own limit (8190 bytes) must not be the one that answers
    assert request(port, "/", headers={"X-Long": "l" * 8150})[:2] == (200, b"hello from aiohttp")


def test_an_oversized_request_header_gets_a_short_4xx_and_no_traceback(trusting: Tuple[str, int]) -> None:
    container, port = trusting
    assert request(port, "/", headers={"X-Huge": "h" * 40000})[:2] == (431, b"431 Request Header Fields Too Large\n")
    assert request(port, "/" + "u" * 20000)[:2] == (414, b"414 URI Too Long\n")
    assert "Traceback" not in logs(container)


def test_an_http10_request_without_host_is_served(trusting: Tuple[str, int]) -> None:
    _, port = trusting
    status, _, body = split_response(raw(port, b"GET / HTTP/1.0\r\n\r\n"))
    assert (status, body) == (200, b"hello from aiohttp")


def test_nginx_redirects_are_relative(trusting: Tuple[str, int]) -> None:
    _, port = trusting
    # a directory without its slash: nginx's redirect used to name its own port 80, not the published one
    status, _, headers = request(port, "/static/sub")
    assert (status, headers.get("location")) == (301, "/static/sub/"), headers


@pytest.mark.parametrize("accept", ["text/html,*/*", "application/json"])
def test_nginx_own_errors_are_short_text_or_json(trusting: Tuple[str, int], accept: str) -> None:
    _, port = trusting
    for status, path, method, body in ((413, "/upload", "POST", b"x" * 4096), (502, "/crash", "GET", None)):
        got, answer, headers = request(port, path, method=method, body=body, headers={"Accept": accept})
        assert got == status, (path, got, answer)
        assert b"<html" not in answer.lower() and len(answer) < 200, answer
        if accept == "application/json":
            assert headers["content-type"].startswith("application/json"), headers
            assert json.loads(answer)["status"] == status
        else:
            assert headers["content-type"].startswith("text/plain"), headers
