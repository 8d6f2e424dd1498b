"""Issue 14's settings and config: SHUTDOWN_DELAY within STOP_TIMEOUT, and the probes nginx answers."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from aiohttp_nginx_base import render, runtime, worker
from aiohttp_nginx_base.settings import STOP_MARGIN, Settings, SettingsError, load
from tests.unit.test_render import HOST, assert_nginx_accepts, needs_nginx

COMMAND = str(Path(sys.executable).with_name("aiohttp-nginx"))


@pytest.fixture
def conf_dir(tmp_path: Path) -> Path:
    """An empty NGINX_CONF_DIR, so the host's /etc/nginx/conf.d never leaks into a test."""
    directory = tmp_path / "conf.d"
    (directory / "server").mkdir(parents=True)
    return directory


def make(app_dir: Path, conf_dir: Path, **env: str) -> Settings:
    return load({"APP_DIR": str(app_dir), "NGINX_CONF_DIR": str(conf_dir), **env}, cpu_count=lambda: 2)


def test_the_defaults_fit_docker_stops_10_seconds_exactly(app_dir: Path, conf_dir: Path) -> None:
    s = make(app_dir, conf_dir)
    assert (s.shutdown_delay, s.graceful_timeout, s.stop_timeout) == (0, 8, 10)
    assert s.shutdown_delay + s.graceful_timeout + STOP_MARGIN == s.stop_timeout


@pytest.mark.parametrize(
    "env",
    [
        {"SHUTDOWN_DELAY": "1"},  # 1 + 8 + 2 > 10
        {"GRACEFUL_TIMEOUT": "30"},
        {"SHUTDOWN_DELAY": "10", "GRACEFUL_TIMEOUT": "8", "STOP_TIMEOUT": "19"},
    ],
)
def test_a_delay_and_graceful_stop_that_overrun_stop_timeout_are_refused(app_dir: Path, conf_dir: Path, env: Dict[str, str]) -> None:
    with pytest.raises(SettingsError) as error:
        make(app_dir, conf_dir, **env)
    assert error.value.name == "STOP_TIMEOUT"
    assert "SHUTDOWN_DELAY" in str(error.value) and "GRACEFUL_TIMEOUT" in str(error.value)
    assert f"+ {STOP_MARGIN} s" in str(error.value)


def test_a_delay_that_fits_is_accepted(app_dir: Path, conf_dir: Path) -> None:
    s = make(app_dir, conf_dir, SHUTDOWN_DELAY="5", GRACEFUL_TIMEOUT="8", STOP_TIMEOUT="15")
    assert (s.shutdown_delay, s.stop_timeout) == (5, 15)


def test_start_refuses_an_overrun_with_one_line_and_exit_2(app_dir: Path, tmp_path: Path) -> None:
    env = {"APP_DIR": str(app_dir), "RUNTIME_DIR": str(tmp_path / "rt"), "SHUTDOWN_DELAY": "5", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([COMMAND, "start"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("aiohttp-nginx: STOP_TIMEOUT='10' is not valid"), result.stderr
    assert not (tmp_path / "rt").exists(), "nothing is started or rendered"


@pytest.mark.parametrize("value", ["/", "no-slash", "/a b", "/a;b"])
def test_probe_prefix_must_be_a_path_other_than_the_root(app_dir: Path, conf_dir: Path, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        make(app_dir, conf_dir, PROBE_PREFIX=value)
    assert error.value.name == "PROBE_PREFIX"


def probe_block(conf: str) -> str:
    match = re.search(r"# --- probes .*?# --- end of probes", conf, re.S)
    assert match, conf
    return match[0]


@needs_nginx
@pytest.mark.parametrize("prefix", ["/_aiohttp-nginx", "/ops/health", "/a(b)=c/"])
def test_probes_live_under_the_prefix_unlogged_and_nginx_accepts_them(app_dir: Path, conf_dir: Path, prefix: str) -> None:
    s = make(app_dir, conf_dir, PROBE_PREFIX=prefix)
    block = probe_block(render.nginx_conf(s, HOST))
    base = prefix.rstrip("/")
    for path in (f"{base}/livez", f"{base}/readyz"):
        assert re.search(rf'location = "?{re.escape(path)}"? {{', block), path
    assert re.search(rf'location \^~ "?{re.escape(base)}/"? {{', block), "the whole prefix is reserved"
    # only the exact paths answer (issue 20): any other spelling nginx normalises to them is a logged 404;
    # what is logged is decided by $aiohttp_nginx_logged, for whichever location answers
    assert block.count("if ($aiohttp_nginx_logged) {\n                return 404;") == 2
    assert "access_log" not in block
    assert f"proxy_pass http://app{base}/readyz;" in block, "the worker is sent a fixed URI, never the client's"
    assert f"if (-f {s.draining_flag})" in block or f'if (-f "{s.draining_flag}")' in block
    assert_nginx_accepts(s)


def test_liveness_is_answered_by_nginx_alone(app_dir: Path, conf_dir: Path) -> None:
    block = probe_block(render.nginx_conf(make(app_dir, conf_dir), HOST))
    live = re.search(r"location = /_aiohttp-nginx/livez \{(.*?)\n        \}", block, re.S)
    assert live and "proxy_pass" not in live[1] and 'return 200 "alive\\n";' in live[1]


def test_a_stale_draining_flag_is_removed_when_the_runtime_dir_is_prepared(app_dir: Path, conf_dir: Path, tmp_path: Path) -> None:
    s = make(app_dir, conf_dir, RUNTIME_DIR=str(tmp_path / "rt"))
    runtime.prepare(s, HOST)
    s.draining_flag.touch()  # left by the last stop of a restarted container
    runtime.prepare(s, HOST)
    assert not s.draining_flag.exists()


def test_the_worker_answers_readiness_before_the_app_and_leaves_other_paths_to_it() -> None:
    seen = []

    async def everything(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(text="app")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", everything)  # a catch-all would otherwise take the probe
    # aiohttp's private Application._handle is the one wrapped: pinned here so an aiohttp change shows
    assert callable(app._handle)
    worker.answer_readiness(app, "/_aiohttp-nginx/readyz")

    async def ask() -> Dict[str, str]:
        async with TestClient(TestServer(app)) as client:
            answers = {}
            for path in ("/_aiohttp-nginx/readyz", "/_aiohttp-nginx/readyz", "/other"):
                response = await client.get(path)
                answers[path] = f"{response.status} {await response.text()}"
            return answers

    assert asyncio.run(ask()) == {"/_aiohttp-nginx/readyz": "200 ready\n", "/other": "200 app"}
    assert seen == ["/other"]


def test_the_worker_reads_the_ready_path_from_probe_prefix() -> None:
    assert worker.ready_path({}) == "/_aiohttp-nginx/readyz"
    assert worker.ready_path({"PROBE_PREFIX": "/ops/"}) == "/ops/readyz"
