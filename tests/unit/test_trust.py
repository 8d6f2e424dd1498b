"""trust.take_proof on what aiohttp really hands it, including a request its parser refused."""

from __future__ import annotations

from aiohttp.web_protocol import ERROR

from aiohttp_nginx_base import trust


def test_a_request_aiohttp_refused_is_left_for_aiohttp_to_answer_400() -> None:
    # a header value with a control character (which nginx passes on) makes aiohttp's parser fail; its stand-in
    # message has plain-dict headers, and the hook must hand it back rather than raise and leave the client hanging
    assert not hasattr(ERROR.headers, "getall")
    message, trusted = trust.take_proof(ERROR, "secret")
    assert (message, trusted) == (ERROR, False)

