"""Fail-closed client trust: the worker believes nginx's client headers only with nginx's per-start proof.

Only nginx can open gunicorn's socket, but not every request nginx passes on went through
the generated config: a location a user adds with its own `proxy_set_header` inherits none
of the generated headers, and an APP_DIR/nginx.conf replacement may set none, so a client's
own X-Real-IP would arrive untouched. So every start makes a random secret that only the
stack's user can read (RUNTIME_DIR/run/proxy-secret, never the environment); the generated
`proxy-headers.conf` sends it in PROOF_HEADER next to the client headers - only to the app's
upstream, never to another service a user's location proxies to - and the worker
trusts X-Real-IP / X-Forwarded-Proto only when it matches, then removes it. Without the
proof the app sees the socket's own peer, and no `Forwarded` header at all.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any, Optional, Tuple

from multidict import CIMultiDict, CIMultiDictProxy

PROOF_HEADER = "X-Aiohttp-Nginx-Proof"
SECRET_NAME = "proxy-secret"  # in the directory of gunicorn's socket (RUNTIME_DIR/run)
HEADERS_CONF = "proxy-headers.conf"  # in RUNTIME_DIR: the one include a custom location needs
MAPS_CONF = "proxy-maps.conf"  # in RUNTIME_DIR: what proxy-headers.conf needs at http level
UPSTREAM = "app"  # the generated upstream (gunicorn's socket): the only one the proof is sent to

_PROOF = PROOF_HEADER.lower()
# what leaves a request before the app sees it: the proof always, a Forwarded header nginx did not vouch for
_DROP_TRUSTED = (_PROOF,)
_DROP_UNTRUSTED = (_PROOF, "forwarded")
_RAW_PROOF = PROOF_HEADER.encode()
_RAW_DROP = {_DROP_TRUSTED: frozenset(n.encode() for n in _DROP_TRUSTED), _DROP_UNTRUSTED: frozenset(n.encode() for n in _DROP_UNTRUSTED)}


def new_secret() -> str:
    return secrets.token_hex(32)


def secret_beside(socket_path: str) -> Optional[str]:
    """The secret of the stack that owns this unix socket, or None (then nothing is trusted)."""
    try:
        text = (Path(socket_path).parent / SECRET_NAME).read_text().strip()
    except (OSError, ValueError):
        return None
    return text or None


class Proof:
    """This start's proof, checked and removed on every request a worker parses (worker.add_real_client).

    Everything derived from the secret is computed once here; per request the check is one header
    lookup, one constant-time compare, a C-level copy of the headers less the proof and a C-level tuple
    search for the raw pair (nginx spells the name as proxy-headers.conf does): about a microsecond.
    """

    __slots__ = ("_secret", "_raw_pair")

    def __init__(self, secret: Optional[str]) -> None:
        self._secret = _bytes(secret) if secret else b""
        self._raw_pair = (_RAW_PROOF, self._secret)

    def take(self, message: Any) -> Tuple[Any, bool]:
        """Remove the proof from a parsed request (aiohttp's RawRequestMessage) and say whether it matched.

        An unproven request also loses its `Forwarded` header: that one came from the client.
        """
        headers = message.headers
        if not hasattr(headers, "getall"):
            # aiohttp's placeholder for a request its parser refused (a plain dict): it answers 400 itself
            return message, False
        proofs = headers.getall(PROOF_HEADER, ())
        trusted = bool(self._secret) and len(proofs) == 1 and hmac.compare_digest(_bytes(proofs[0]), self._secret)
        if not proofs and (trusted or "Forwarded" not in headers):
            return message, trusted
        drop = _DROP_TRUSTED if trusted else _DROP_UNTRUSTED
        kept = CIMultiDict(headers)  # a C-level copy; then only the dropped names are removed
        for name in drop:
            kept.popall(name, None)
        raw = self._raw_without(message.raw_headers, drop, trusted)
        return message._replace(headers=CIMultiDictProxy(kept), raw_headers=raw), trusted

    def _raw_without(self, raw: Tuple[Tuple[bytes, bytes], ...], drop: Tuple[str, ...], trusted: bool) -> Tuple[Any, ...]:
        """raw_headers less the dropped names (bytes, as the client wrote them)."""
        if trusted:
            try:
                i = raw.index(self._raw_pair)
            except ValueError:
                pass
            else:
                return raw[:i] + raw[i + 1 :]
        raw_drop = _RAW_DROP[drop]
        return tuple(pair for pair in raw if pair[0].lower() not in raw_drop)


def take_proof(message: Any, secret: Optional[str]) -> Tuple[Any, bool]:
    """Proof(secret).take(message): for one request (a worker keeps its Proof)."""
    return Proof(secret).take(message)


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")
