"""The edge's part of nginx.conf: client trust, PROXY protocol, log formats, compression, static files, error answers."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from aiohttp_nginx_base import render, stack
from tests.unit.test_render import HOST, assert_nginx_accepts, conf_dir, directives, make, needs_nginx, without_probes

__all__ = ["conf_dir"]  # the fixture, imported for pytest

INVALID = re.compile(render.INVALID_UTF8.encode())


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


# the JSON access log swaps a value for a marker exactly when the value is not UTF-8 (nginx runs the same pattern)
@hsettings(max_examples=2000, deadline=None, derandomize=True, database=None)
@given(data=st.binary(max_size=12) | st.text(max_size=8).map(lambda s: s.encode("utf-8", "surrogatepass")))
@example(b"caf\xc3\xa9")  # valid two-byte
@example(b"\xf0\x9f\x98\x80")  # valid four-byte
@example(b"\xc3\xa9\xa9")  # one continuation too many
@example(b"\xe0\x80\xaf")  # overlong
@example(b"\xed\xa0\x80")  # a surrogate
@example(b"\xf4\x90\x80\x80")  # beyond U+10FFFF
@example(b"\xe1\x80")  # cut short
def test_the_invalid_utf8_pattern_agrees_with_the_decoder(data: bytes) -> None:
    assert bool(INVALID.search(data)) == (not _is_utf8(data)), data


def test_nobody_is_trusted_by_default(app_dir: Path, conf_dir: Path) -> None:
    s = make(app_dir, conf_dir)
    conf = render.nginx_conf(s, HOST)
    assert directives(conf, "set_real_ip_from") == [] and directives(conf, "real_ip_header") == []
    geo = re.search(r"geo \$realip_remote_addr \$edge_trusted \{(.*?)\}", render.proxy_maps_conf(s, "proof"), re.S)
    assert geo and geo[1].split() == ["default", "0;"], render.proxy_maps_conf(s, "proof")
    headers = render.proxy_headers_conf()
    assert "proxy_set_header X-Forwarded-For $edge_forwarded_for" in headers
    assert 'proxy_set_header Forwarded "for=$aiohttp_nginx_forwarded_for;proto=$edge_scheme' in headers


@needs_nginx
def test_forwarded_allow_ips_become_realip_sources_and_trusted_peers(app_dir: Path, conf_dir: Path) -> None:
    s = make(app_dir, conf_dir, FORWARDED_ALLOW_IPS="10.0.0.0/8, 192.168.1.7,2001:db8::/32")
    conf = render.nginx_conf(s, HOST)
    assert directives(conf, "set_real_ip_from") == ["10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32"]
    assert directives(conf, "real_ip_header") == ["X-Forwarded-For"] and directives(conf, "real_ip_recursive") == ["on"]
    geo = re.search(r"geo \$realip_remote_addr \$edge_trusted \{(.*?)\}", render.proxy_maps_conf(s, "proof"), re.S)
    assert geo and "10.0.0.0/8 1;" in geo[1] and "2001:db8::/32 1;" in geo[1]
    assert_nginx_accepts(s)


@needs_nginx
def test_proxy_protocol_listens_for_it_and_takes_the_client_from_it(app_dir: Path, conf_dir: Path) -> None:
    s = make(app_dir, conf_dir, PROXY_PROTOCOL="1", FORWARDED_ALLOW_IPS="10.0.0.0/8")
    conf = render.nginx_conf(s, HOST)
    assert all("proxy_protocol" in listen for listen in directives(conf, "listen")), directives(conf, "listen")
    assert directives(conf, "real_ip_header") == ["proxy_protocol"]
    # the PROXY header is believed from the trusted balancer alone (issue 20), and trust follows realip's conclusion
    assert directives(conf, "set_real_ip_from") == ["10.0.0.0/8"]
    assert "geo $remote_addr $edge_trusted" in render.proxy_maps_conf(s, "proof")
    assert_nginx_accepts(s)


@pytest.mark.parametrize("fmt, name", [("combined", "main"), ("json", "aiohttp_nginx_json")])
def test_access_log_format_picks_the_log_format(app_dir: Path, conf_dir: Path, fmt: str, name: str) -> None:
    conf = without_probes(render.nginx_conf(make(app_dir, conf_dir, ACCESS_LOG_FORMAT=fmt), HOST))
    assert directives(conf, "access_log") == [f"/dev/stdout {name} buffer=4k flush=1s if=$aiohttp_nginx_logged"]
    assert f"log_format {name} " in conf


def test_nginx_gzip_off_leaves_compression_out(app_dir: Path, conf_dir: Path) -> None:
    (app_dir / "static").mkdir()
    assert directives(render.nginx_conf(make(app_dir, conf_dir), HOST), "gzip") == ["on"]
    conf = render.nginx_conf(make(app_dir, conf_dir, NGINX_GZIP="0"), HOST)
    assert directives(conf, "gzip") == [] and directives(conf, "gzip_static") == []


@pytest.mark.parametrize("max_age, header", [("0", '"no-cache"'), ("600", '"public, max-age=600"')])
def test_static_files_get_cache_control_and_no_symlinks(app_dir: Path, conf_dir: Path, max_age: str, header: str) -> None:
    (app_dir / "static").mkdir()
    conf = render.nginx_conf(make(app_dir, conf_dir, STATIC_MAX_AGE=max_age), HOST)
    assert f"add_header Cache-Control {header} always" in conf
    assert directives(conf, "disable_symlinks") == ["on from=$document_root"]


@needs_nginx
def test_every_error_answer_has_a_text_and_a_json_location(app_dir: Path, conf_dir: Path) -> None:
    (app_dir / "static").mkdir()
    s = make(app_dir, conf_dir, STATIC_INDEX="1")
    conf = render.nginx_conf(s, HOST)
    for status, _ in set(render.ERROR_ANSWERS.values()):
        for fmt in ("text", "json"):
            assert f"location = {render.ERROR_PREFIX}{status}.{fmt} {{" in conf
    assert_nginx_accepts(s)


def test_brotli_is_loaded_and_on_only_where_nginx_has_the_module(app_dir: Path, conf_dir: Path) -> None:
    with_module = replace(HOST, brotli_module="/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so")
    conf = render.nginx_conf(make(app_dir, conf_dir), with_module)
    assert directives(conf, "load_module") == [with_module.brotli_module] and directives(conf, "brotli") == ["on"]
    off = render.nginx_conf(make(app_dir, conf_dir, NGINX_GZIP="0"), with_module)
    assert directives(off, "load_module") == [] and directives(off, "brotli") == []
    without = render.nginx_conf(make(app_dir, conf_dir), replace(HOST, brotli_module=None))
    assert directives(without, "load_module") == [] and directives(without, "brotli") == []


@needs_nginx
@pytest.mark.parametrize("proxy_protocol", ["0", "1"])
def test_trusting_everyone_is_geo_default_and_nginx_says_nothing_at_start(app_dir: Path, conf_dir: Path, proxy_protocol: str) -> None:
    # `*` listed as 0.0.0.0/0 and ::/0 beside geo's own default made nginx warn "duplicate network" at every start
    s = make(app_dir, conf_dir, FORWARDED_ALLOW_IPS="*", PROXY_PROTOCOL=proxy_protocol)
    geo = re.search(r"geo \S+ \$edge_trusted \{(.*?)\}", render.proxy_maps_conf(s, "proof"), re.S)
    # behind PROXY, `*` lets every peer speak PROXY but trusts no address a header names (its X-Forwarded-* never count)
    assert geo and geo[1].split() == ["default", "0;" if proxy_protocol == "1" else "1;"]
    result = stack.nginx_test(s, HOST)
    assert (result.returncode, result.stdout) == (0, "")
