"""The `aiohttp-nginx` command as users run it: a real process, its exit status and what it prints."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from aiohttp_nginx_base import stack
from aiohttp_nginx_base.host import gather, ipv6_available
from aiohttp_nginx_base.settings import VARIABLES, SettingsError

COMMAND = str(Path(sys.executable).with_name("aiohttp-nginx"))
HOST = gather()
needs_nginx = pytest.mark.skipif(HOST.nginx_bin is None, reason="nginx is not installed")


@pytest.fixture
def env(app_dir: Path, tmp_path: Path) -> Dict[str, str]:
    """The process environment: this one without the stack's variables, plus a scratch app and runtime."""
    names = {v.name for v in VARIABLES}
    clean = {k: v for k, v in os.environ.items() if k not in names}
    conf_dir = tmp_path / "conf.d"
    conf_dir.mkdir()
    clean.update(APP_DIR=str(app_dir), RUNTIME_DIR=str(tmp_path / "runtime"), NGINX_CONF_DIR=str(conf_dir))
    return clean


def run(args: List[str], env: Dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COMMAND, *args], env={**env, **extra}, capture_output=True, text=True, timeout=60)


def assert_one_line_error(result: subprocess.CompletedProcess[str], name: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"aiohttp-nginx: {name}="), lines[0]


@needs_nginx
def test_a_bad_nginx_worker_processes_fails_check_with_one_line(env: Dict[str, str]) -> None:
    result = run(["check"], env, NGINX_WORKER_PROCESSES="abc")
    assert_one_line_error(result, "NGINX_WORKER_PROCESSES")
    assert "'abc'" in result.stderr and "auto" in result.stderr  # says what it got and what it allows
    assert result.stdout == ""


@needs_nginx
def test_check_runs_nginx_t_on_the_generated_config(env: Dict[str, str]) -> None:
    result = run(["check"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "configuration ok"


@needs_nginx
def test_check_reports_a_config_nginx_rejects_with_status_1(env: Dict[str, str]) -> None:
    server = Path(env["NGINX_CONF_DIR"]) / "server"
    server.mkdir()
    (server / "typo.conf").write_text("retrun 204;\n")
    result = run(["check"], env)
    assert result.returncode == 1
    assert "retrun" in result.stderr
    assert result.stderr.splitlines()[-1] == "aiohttp-nginx: nginx rejected the generated configuration"
    assert "Traceback" not in result.stderr


@needs_nginx
def test_check_with_log_level_error_works(env: Dict[str, str]) -> None:
    result = run(["check"], env, LOG_LEVEL="error")
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr


def test_config_prints_the_effective_settings_as_json(env: Dict[str, str], app_dir: Path) -> None:
    result = run(["config"], env, WEB_CONCURRENCY="3", STATIC_URL="/assets/")
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["app_dir"] == str(app_dir)
    assert config["app_module"] == "app:app"
    assert config["workers"] == 3
    assert config["static_url"] == "/assets"
    assert config["listen_port"] == 80


def test_config_with_a_bad_value_prints_nothing_on_stdout(env: Dict[str, str]) -> None:
    result = run(["config"], env, KEEP_ALIVE="forever")
    assert_one_line_error(result, "KEEP_ALIVE")
    assert result.stdout == ""


def test_variables_markdown_is_the_readme_table(env: Dict[str, str]) -> None:
    result = run(["variables", "--markdown"], env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| Variable |")
    rows = [line for line in lines[2:] if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [v.name for v in VARIABLES]


def test_variables_lists_every_variable_with_its_default(env: Dict[str, str]) -> None:
    result = run(["variables"], env)
    assert result.returncode == 0, result.stderr
    for var in VARIABLES:
        assert f"{var.name}={'(unset)' if var.default is None else var.default}\n" in result.stdout


def test_render_out_writes_the_three_configs(env: Dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(["render", "--out", str(out)], env)
    assert result.returncode == 0, result.stderr
    names = ["gunicorn.json", "nginx.conf", "proxy-headers.conf", "proxy-maps.conf", "supervisord.conf"]
    assert sorted(Path(line).name for line in result.stdout.splitlines()) == names
    assert all(Path(line).is_file() for line in result.stdout.splitlines())


def test_a_missing_app_is_one_line_naming_app_module(tmp_path: Path, env: Dict[str, str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run(["config"], env, APP_DIR=str(empty)), "APP_MODULE")


def test_without_a_verb_the_usage_is_printed_with_status_2(env: Dict[str, str]) -> None:
    result = run([], env)
    assert result.returncode == 2
    assert "usage: aiohttp-nginx" in result.stderr
    assert "Traceback" not in result.stderr


# --- LISTEN_PORT already taken


@pytest.fixture(params=["127.0.0.1", "0.0.0.0"])
def taken_port(request: pytest.FixtureRequest) -> Iterator[int]:
    """A TCP port someone else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((request.param, 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@needs_nginx
def test_start_on_a_taken_listen_port_fails_with_one_line(env: Dict[str, str], taken_port: int) -> None:
    result = run(["start"], env, LISTEN_PORT=str(taken_port))
    assert_one_line_error(result, "LISTEN_PORT")
    assert "free port" in result.stderr
    assert not (Path(env["RUNTIME_DIR"]) / "supervisord.conf").exists()  # failed before starting anything


def test_check_port_names_listen_port_for_a_taken_port(taken_port: int) -> None:
    with pytest.raises(SettingsError) as caught:
        stack.check_port(taken_port, HOST)
    assert caught.value.name == "LISTEN_PORT"


def _ipv6_loopback_listener() -> socket.socket:
    try:
        listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        listener.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 on this host")
    listener.listen()
    return listener


def test_check_port_notices_a_port_taken_on_ipv6() -> None:
    if not ipv6_available():
        pytest.skip("no IPv6: nginx listens on IPv4 only")
    with _ipv6_loopback_listener() as listener:
        with pytest.raises(SettingsError) as caught:
            stack.check_port(int(listener.getsockname()[1]), HOST)
    assert caught.value.name == "LISTEN_PORT"


def test_a_reload_that_cannot_write_logs_one_line_and_does_not_raise(
    app_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aiohttp_nginx_base.host import gather
    from aiohttp_nginx_base.settings import load

    (tmp_path / "a-file").write_text("")  # a bad path: the runtime dir cannot be there
    env = {"APP_DIR": str(app_dir), "RUNTIME_DIR": str(tmp_path / "a-file" / "rt"), "NGINX_CONF_DIR": str(tmp_path)}
    host = gather(lambda: 2)
    supervision = stack.Supervision(load(env, host=host), host, tmp_path / "supervisord.conf", env)
    supervision._on_hup(1, None)  # the SIGHUP handler only queues: nothing is read, rendered or written in it
    assert capsys.readouterr().err == "" and supervision.reloads == 0
    supervision.reload_if_asked()  # what supervisord's main loop runs next; before, the exception ended PID 1
    assert supervision.reloads == 1
    supervision.reload_if_asked()  # asked once, done once
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("aiohttp-nginx: reload failed: "), lines
