"""`aiohttp-nginx healthcheck`: healthy only if the stack is not draining and a request through nginx reaches the app."""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Optional, Sequence

# 502/503/504 come from nginx when gunicorn is down; a 5xx from the app is unhealthy too
UNHEALTHY_FROM = 500


def allowed_host(allowed_hosts: Optional[Sequence[str]]) -> Optional[str]:
    """With ALLOWED_HOSTS, the check asks as its first name (`*.example.com` as healthcheck.example.com),
    so that it reaches the app like any allowed request; without, as 127.0.0.1."""
    if not allowed_hosts:
        return None
    first = allowed_hosts[0]
    return "healthcheck" + first[1:] if first.startswith("*.") else first


class ProxyProtocolConnection(http.client.HTTPConnection):
    """An HTTP connection that first sends a PROXY protocol v1 header, as a balancer would
    (PROXY_PROTOCOL=1 makes nginx refuse connections without one)."""

    def connect(self) -> None:
        super().connect()
        source, source_port = self.sock.getsockname()[:2]
        self.sock.sendall(f"PROXY TCP4 {source} {self.host} {source_port} {self.port}\r\n".encode("ascii"))


def probe(
    port: int,
    path: str,
    timeout: float = 5.0,
    host: Optional[str] = None,
    draining_flag: Optional[Path] = None,
    proxy_protocol: bool = False,
) -> str:
    """'' when healthy, else why not."""
    if draining_flag is not None and draining_flag.exists():
        # SIGTERM arrived: still serving for SHUTDOWN_DELAY, but balancers should stop sending requests
        return "the stack is draining before it stops (SHUTDOWN_DELAY)"
    connection = ProxyProtocolConnection if proxy_protocol else http.client.HTTPConnection
    conn = connection("127.0.0.1", port, timeout=timeout)
    headers = {"User-Agent": "aiohttp-nginx-healthcheck", **({"Host": host} if host else {})}
    try:
        conn.request("GET", path, headers=headers)
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return f"no answer from nginx on 127.0.0.1:{port}: {exc}"
    finally:
        conn.close()
    return "" if status < UNHEALTHY_FROM else f"GET {path} through nginx answered {status}"
