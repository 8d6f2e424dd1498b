"""The HTTP probe: one request to a port on 127.0.0.1, with the standard library's client."""

from __future__ import annotations

import http.client
from typing import Dict, Optional, Tuple

Response = Tuple[int, bytes, Dict[str, str]]  # status, body, headers (names lower-cased)


def request(
    port: int,
    path: str = "/",
    method: str = "GET",
    body: Optional[bytes] = None,
    headers: Optional[Dict[str, str]] = None,
    source: Optional[str] = None,
    timeout: float = 10.0,
) -> Response:
    """One HTTP request to 127.0.0.1:port; `source` picks the client's loopback address."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def answers(port: int, path: str = "/") -> bool:
    """Whether GET `path` answers 200 (within 2 s)."""
    try:
        return request(port, path, timeout=2)[0] == 200
    except (OSError, http.client.HTTPException):
        return False
