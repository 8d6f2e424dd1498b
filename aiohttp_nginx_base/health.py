"""`aiohttp-nginx healthcheck`: healthy only if a request through nginx reaches the app."""

from __future__ import annotations

import http.client

# 502/503/504 come from nginx when gunicorn is down; a 5xx from the app is unhealthy too
UNHEALTHY_FROM = 500


def probe(port: int, path: str, timeout: float = 5.0) -> str:
    """'' when healthy, else why not."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "aiohttp-nginx-healthcheck"})
        status = conn.getresponse().status
    except OSError as exc:
        return f"no answer from nginx on 127.0.0.1:{port}: {exc}"
    finally:
        conn.close()
    return "" if status < UNHEALTHY_FROM else f"GET {path} through nginx answered {status}"
