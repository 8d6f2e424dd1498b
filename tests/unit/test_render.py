"""Settings -> nginx.conf, gunicorn.conf.py and supervisord.conf, each checked by the program that reads it."""

from __future__ import annotations

import configparser
import re
import shlex
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List

import pytest
from gunicorn.app.base import Application
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from supervisor.options import ServerOptions

from aiohttp_nginx_base import render, runtime, stack, trust
from aiohttp_nginx_base.host import gather
from aiohttp_nginx_base.settings import BY_NAME, VARIABLES, Settings, SettingsError, load
from tests.support import free_port

HOST = gather()
needs_nginx = pytest.mark.skipif(HOST.nginx_bin is None, reason="nginx is not installed")


@pytest.fixture
def conf_dir(tmp_path: Path) -> Path:
    """An empty NGINX_CONF_DIR, so the host's /etc/nginx/conf.d never leaks into a test."""
    directory = tmp_path / "conf.d"
    (directory / "server").mkdir(parents=True)
    return directory


def make(app_dir: Path, conf_dir: Path, **env: str) -> Settings:
    return load({"APP_DIR": str(app_dir), "NGINX_CONF_DIR": str(conf_dir), **env}, cpu_count=lambda: 2)


def assert_nginx_accepts(s: Settings) -> None:
    result = stack.nginx_test(s, HOST)
    assert result.returncode == 0, result.stdout


def nginx_answers_at_start(s: Settings) -> str:
    """Start nginx itself on the rendered configs (scratch runtime dir, a free port) and ask its liveness probe,
    which nginx answers without the app: '' once it says "alive", else what nginx said (issue 20: `nginx -t`
    passes values nginx refuses or dies of at start). Bounded: 15 s."""
    assert HOST.nginx_bin is not None
    with tempfile.TemporaryDirectory(prefix="aiohttp-nginx-start-") as scratch:
        Path(scratch).chmod(0o755)  # root's nginx workers run as www-data
        trial = replace(s, runtime_dir=Path(scratch) / "rt", listen_port=free_port())
        runtime.prepare(trial, HOST)
        runtime.render_into(trial, HOST)
        argv = [HOST.nginx_bin, "-p", f"{trial.runtime_dir}/nginx", "-e", "stderr", "-c", str(render.nginx_conf_path(trial))]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        head = b"PROXY TCP4 127.0.0.1 127.0.0.1 40000 80\r\n" if s.proxy_protocol else b""
        request = head + f"GET {s.live_path} HTTP/1.0\r\n\r\n".encode()
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with socket.create_connection(("127.0.0.1", trial.listen_port), timeout=2) as conn:
                        conn.sendall(request)
                        if conn.recv(4096).endswith(b"\r\n\r\nalive\n"):
                            return ""
                except OSError:
                    pass
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                proc.terminate()
            output = proc.communicate(timeout=15)[0]
        return output or f"nginx exited with {proc.returncode}"


def upstream_block(conf: str) -> str:
    match = re.search(r"upstream app \{(.*?)\}", conf, re.S)
    assert match, conf
    return match[1]


def directives(conf: str, name: str) -> List[str]:
    return re.findall(rf"^\s*{name}\s+([^;]*);", conf, re.M)


def without_probes(conf: str) -> str:
    """The config minus the probes' block (whose locations turn their own access log off)."""
    return re.sub(r"# --- probes .*?# --- end of probes", "", conf, flags=re.S)


class _GunicornConfig(Application):  # type: ignore[misc]
    """gunicorn's own config loader, pointed at one file and nothing else (no command line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__()

    def load_config(self) -> None:
        self.load_config_from_file(str(self.path))

    def init(self, parser: Any, opts: Any, args: Any) -> None:
        pass

    def load(self) -> None:
        pass


def gunicorn_sees(s: Settings, tmp_path: Path) -> Any:
    """What gunicorn makes of the shipped config module reading the rendered JSON, as supervisord starts it."""
    path = tmp_path / "gunicorn.json"
    path.write_text(render.gunicorn_json(s, HOST))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(render.GUNICORN_SETTINGS_VARIABLE, str(path))
        return _GunicornConfig(render.GUNICORN_CONFIG).cfg


def supervisord_sees(s: Settings) -> ServerOptions:
    """Render into s.runtime_dir and load the result with supervisord's own parser."""
    runtime.prepare(s, HOST)
    path = s.runtime_dir / "supervisord.conf"
    path.write_text(render.supervisord_conf(s, HOST, "secret"))
    options = ServerOptions()
    options.configfile = str(path)
    options.process_config(do_usage=False)
    return options


def programs(options: ServerOptions) -> Dict[str, Any]:
    return {p.name: p for group in options.process_group_configs for p in group.process_configs}


# --- nginx.conf


@needs_nginx
def test_the_default_config_passes_nginx_t(app_dir: Path) -> None:
    host_conf = Path(BY_NAME["NGINX_CONF_DIR"].default or "/etc/nginx/conf.d")
    if list(host_conf.glob("*.conf")):
        pytest.skip(f"{host_conf} holds this host's own nginx additions")
    assert_nginx_accepts(load({"APP_DIR": str(app_dir)}, cpu_count=lambda: 2))


@needs_nginx
def test_the_default_config_with_an_empty_conf_dir_passes_nginx_t(app_dir: Path, conf_dir: Path) -> None:
    assert_nginx_accepts(make(app_dir, conf_dir))


def test_server_tokens_are_off(app_dir: Path, conf_dir: Path) -> None:
    assert directives(render.nginx_conf(make(app_dir, conf_dir), HOST), "server_tokens") == ["off"]


def test_gunicorn_is_reached_over_its_unix_socket_with_keepalive(app_dir: Path, conf_dir: Path) -> None:
    s = make(app_dir, conf_dir)
    block = upstream_block(render.nginx_conf(s, HOST))
    assert directives(block, "server") == [f"unix:{s.socket_path}"]
    assert directives(block, "keepalive") == ["64"]
    assert len(directives(block, "keepalive_timeout")) == 1
    assert str(s.socket_path).startswith(str(s.runtime_dir))


def test_every_request_is_proxied_to_the_app_upstream(app_dir: Path, conf_dir: Path) -> None:
    s = make(app_dir, conf_dir)
    conf = render.nginx_conf(s, HOST)
    assert f"{s.runtime_dir}/proxy-headers.conf" in directives(conf, "include")
    # the readiness probe sends the worker its fixed URI, never the client's (issue 20)
    assert set(directives(conf, "proxy_pass")) == {"http://app", f"http://app{s.ready_path}"}
    headers = render.proxy_headers_conf()
    assert "proxy_set_header X-Real-IP $edge_client_addr" in headers
    assert "proxy_set_header X-Forwarded-Proto $edge_scheme" in headers
    assert f"proxy_set_header {trust.PROOF_HEADER} $aiohttp_nginx_proof" in headers


def test_the_proof_is_mapped_for_the_app_upstream_alone(app_dir: Path, conf_dir: Path) -> None:
    maps = render.proxy_maps_conf(make(app_dir, conf_dir), "0123abcd")
    block = maps[maps.index("map $proxy_host $aiohttp_nginx_proof") :]
    assert f"    {trust.UPSTREAM}  0123abcd;" in block
    assert '    default  "";' in block  # nginx sends no header with an empty value
    assert "0123abcd" not in render.proxy_headers_conf()


@needs_nginx
@pytest.mark.parametrize("upload, rendered", [("0", "0"), ("512", "512"), ("10k", "10k"), ("100M", "100m"), ("2g", "2g")])
def test_client_max_body_size_follows_nginx_max_upload(app_dir: Path, conf_dir: Path, upload: str, rendered: str) -> None:
    s = make(app_dir, conf_dir, NGINX_MAX_UPLOAD=upload)
    sizes = directives(render.nginx_conf(s, HOST), "client_max_body_size")
    # the server's; then nginx's own error pages, which discard the body of a request refused before its location
    error_pages = 2 * len(set(render.ERROR_ANSWERS.values()))
    assert sizes == [rendered] + ["0"] * error_pages
    assert_nginx_accepts(s)


def test_no_static_location_when_static_path_is_missing(app_dir: Path, conf_dir: Path) -> None:
    conf = without_probes(render.nginx_conf(make(app_dir, conf_dir, STATIC_INDEX="1"), HOST))
    assert "location /static/" not in conf
    assert "alias" not in conf
    assert "location = / {" not in conf


@needs_nginx
def test_static_path_is_served_at_static_url_when_it_exists(app_dir: Path, conf_dir: Path) -> None:
    (app_dir / "static").mkdir()
    s = make(app_dir, conf_dir)
    conf = render.nginx_conf(s, HOST)
    assert re.search(rf"location /static/ \{{\s*alias {re.escape(str(app_dir))}/static/;", conf)
    assert "location = / {" not in conf
    assert_nginx_accepts(s)


@needs_nginx
def test_a_custom_static_url_and_path_are_used(app_dir: Path, conf_dir: Path, tmp_path: Path) -> None:
    public = tmp_path / "public"
    public.mkdir()
    s = make(app_dir, conf_dir, STATIC_URL="/assets/v1/", STATIC_PATH=str(public))
    conf = render.nginx_conf(s, HOST)
    assert re.search(rf"location /assets/v1/ \{{\s*alias {re.escape(str(public))}/;", conf)
    assert_nginx_accepts(s)


@needs_nginx
def test_static_index_serves_index_html_at_the_root(app_dir: Path, conf_dir: Path) -> None:
    (app_dir / "static").mkdir()
    s = make(app_dir, conf_dir, STATIC_INDEX="yes")
    conf = render.nginx_conf(s, HOST)
    assert re.search(r"location = / \{[^}]*try_files /index.html =404;", conf)
    assert_nginx_accepts(s)


@needs_nginx
@pytest.mark.parametrize("value", ["off", "OFF", "none", "0"])
def test_access_log_off_turns_nginx_access_log_off(app_dir: Path, conf_dir: Path, value: str) -> None:
    s = make(app_dir, conf_dir, ACCESS_LOG=value)
    assert directives(without_probes(render.nginx_conf(s, HOST)), "access_log") == ["off"]
    assert_nginx_accepts(s)


def test_access_log_dash_goes_to_the_container_output(app_dir: Path, conf_dir: Path) -> None:
    s = make(app_dir, conf_dir)
    logged = "main buffer=4k flush=1s if=$aiohttp_nginx_logged"
    assert directives(without_probes(render.nginx_conf(s, HOST)), "access_log") == [f"/dev/stdout {logged}"]
    # when the stack runs, straight to PID 1's output, not through supervisord
    assert directives(without_probes(render.nginx_conf(s, HOST, output_pid=1)), "access_log") == [f"/proc/1/fd/1 {logged}"]
    assert directives(render.nginx_conf(s, HOST, output_pid=1), "error_log") == ["/proc/1/fd/2 warn"]


@needs_nginx
def test_access_and_error_logs_can_be_files(app_dir: Path, conf_dir: Path, tmp_path: Path) -> None:
    access, error = tmp_path / "access.log", tmp_path / "error.log"
    s = make(app_dir, conf_dir, ACCESS_LOG=str(access), ERROR_LOG=str(error))
    conf = render.nginx_conf(s, HOST)
    assert directives(without_probes(conf), "access_log") == [f"{access} main buffer=4k flush=1s if=$aiohttp_nginx_logged"]
    assert directives(conf, "error_log") == [f"{error} warn"]
    assert_nginx_accepts(s)


def test_error_log_off_discards_nginx_errors(app_dir: Path, conf_dir: Path) -> None:
    assert directives(render.nginx_conf(make(app_dir, conf_dir, ERROR_LOG="off"), HOST), "error_log") == ["/dev/null warn"]


@needs_nginx
@pytest.mark.parametrize(
    "level",
    [
        "debug",
        "info",
        "warning",
        "error",
        "critical",
    ],
)
def test_every_log_level_renders_a_config_nginx_accepts(app_dir: Path, conf_dir: Path, level: str) -> None:
    s = make(app_dir, conf_dir, LOG_LEVEL=level)
    assert_nginx_accepts(s)


def test_keep_alive_0_turns_upstream_keepalive_off(app_dir: Path, conf_dir: Path, tmp_path: Path) -> None:
    s = make(app_dir, conf_dir, KEEP_ALIVE="0")
    block = upstream_block(render.nginx_conf(s, HOST))
    assert "keepalive" not in block
    assert gunicorn_sees(s, tmp_path).keepalive == 0


@needs_nginx
@pytest.mark.parametrize("keep_alive", [1, 2, 5, 75, 3600])
def test_nginx_drops_idle_upstream_connections_before_gunicorn_does(app_dir: Path, conf_dir: Path, tmp_path: Path, keep_alive: int) -> None:
    s = make(app_dir, conf_dir, KEEP_ALIVE=str(keep_alive))
    (timeout,) = directives(upstream_block(render.nginx_conf(s, HOST)), "keepalive_timeout")
    match = re.fullmatch(r"(\d+)(ms|s)", timeout)
    assert match, timeout
    nginx_ms = int(match[1]) * (1 if match[2] == "ms" else 1000)
    gunicorn_s = gunicorn_sees(s, tmp_path).keepalive
    assert gunicorn_s == keep_alive
    assert 0 < nginx_ms < gunicorn_s * 1000
    assert_nginx_accepts(s)


def test_nginx_worker_settings_follow_the_variables(app_dir: Path, conf_dir: Path) -> None:
    s = make(
        app_dir,
        conf_dir,
        NGINX_WORKER_PROCESSES="3",
        NGINX_WORKER_CONNECTIONS="4096",
        NGINX_WORKER_OPEN_FILES="8192",
        NGINX_WEBSOCKET_TIMEOUT="123",
        GRACEFUL_TIMEOUT="0",
    )
    conf = render.nginx_conf(s, HOST)
    assert directives(conf, "worker_processes") == ["3"]
    assert directives(conf, "worker_connections") == ["4096"]
    assert directives(conf, "worker_rlimit_nofile") == ["8192"]
    assert directives(without_probes(conf), "proxy_read_timeout") == ["120s", "123s"]  # plain requests (TIMEOUT), then websockets
    assert directives(conf, "worker_shutdown_timeout") == ["1s"]  # never 0: nginx would wait forever


def test_worker_rlimit_nofile_follows_worker_connections_when_only_they_are_set(app_dir: Path, conf_dir: Path) -> None:
    conf = render.nginx_conf(make(app_dir, conf_dir, NGINX_WORKER_CONNECTIONS="4096"), HOST)
    assert directives(conf, "worker_rlimit_nofile") == ["4160"]


def test_the_conf_dir_is_included_in_http_and_server(app_dir: Path, conf_dir: Path) -> None:
    conf = render.nginx_conf(make(app_dir, conf_dir), HOST)
    includes = directives(conf, "include")
    assert includes[-1] == f"{conf_dir}/server/*.conf"
    assert f"{conf_dir}/*.conf" in includes


@needs_nginx
def test_user_additions_in_the_conf_dir_are_honoured(app_dir: Path, conf_dir: Path) -> None:
    (conf_dir / "gzip.conf").write_text("gzip on;\n")
    (conf_dir / "server" / "health.conf").write_text("location = /nginx-health { return 204; }\n")
    assert_nginx_accepts(make(app_dir, conf_dir))
    (conf_dir / "server" / "broken.conf").write_text("this is not nginx;\n")
    assert stack.nginx_test(make(app_dir, conf_dir), HOST).returncode != 0  # and nginx -t really does look


# --- values at the edge of what the settings accept: nginx and supervisord must accept them too


def test_a_static_url_with_a_semicolon_is_rejected(app_dir: Path, conf_dir: Path) -> None:
    # a ';' would end nginx's location directive early: the settings refuse it
    (app_dir / "static").mkdir()
    with pytest.raises(SettingsError) as caught:
        make(app_dir, conf_dir, STATIC_URL="/a;b")
    assert caught.value.name == "STATIC_URL"


def test_a_max_upload_in_non_ascii_digits_is_rejected(app_dir: Path, conf_dir: Path) -> None:
    # int() reads Arabic-Indic digits, nginx does not: only ASCII digits pass
    with pytest.raises(SettingsError) as caught:
        make(app_dir, conf_dir, NGINX_MAX_UPLOAD="\u0661\u0660m")
    assert caught.value.name == "NGINX_MAX_UPLOAD"


@needs_nginx
def test_the_smallest_accepted_worker_connections_passes_nginx_t(app_dir: Path, conf_dir: Path) -> None:
    low = BY_NAME["NGINX_WORKER_CONNECTIONS"].parse.low  # type: ignore[attr-defined]
    assert_nginx_accepts(make(app_dir, conf_dir, NGINX_WORKER_CONNECTIONS=str(low)))


# --- gunicorn's settings (gunicorn.json, read by the shipped gunicorn_conf.py)


def test_gunicorn_reads_the_rendered_settings_and_binds_the_socket(app_dir: Path, conf_dir: Path, tmp_path: Path) -> None:
    s = make(app_dir, conf_dir, WEB_CONCURRENCY="3", TIMEOUT="30", GRACEFUL_TIMEOUT="4", LOG_LEVEL="warning")
    cfg = gunicorn_sees(s, tmp_path)
    assert cfg.bind == [f"unix:{s.socket_path}"]
    assert cfg.wsgi_app == "app:app"
    assert cfg.chdir == str(app_dir)
    assert (cfg.workers, cfg.timeout, cfg.graceful_timeout, cfg.loglevel) == (3, 30, 4, "warning")
    assert cfg.worker_class_str == s.worker_class
    assert cfg.accesslog is None  # nginx writes the access log


def test_a_user_gunicorn_conf_overrides_values_but_not_bind(app_dir: Path, conf_dir: Path, tmp_path: Path) -> None:
    user_conf = tmp_path / "mine.py"
    user_conf.write_text('workers = 7\ntimeout = 5\nbind = "0.0.0.0:9"\nmax_requests = 1000\n')
    s = make(app_dir, conf_dir, GUNICORN_CONF=str(user_conf))
    cfg = gunicorn_sees(s, tmp_path)
    assert (cfg.workers, cfg.timeout, cfg.max_requests) == (7, 5, 1000)
    assert cfg.bind == [f"unix:{s.socket_path}"]


def test_gunicorn_conf_py_in_app_dir_is_loaded(app_dir: Path, conf_dir: Path, tmp_path: Path) -> None:
    (app_dir / "gunicorn_conf.py").write_text("workers = 5\n")
    assert gunicorn_sees(make(app_dir, conf_dir), tmp_path).workers == 5


def test_gunicorn_settings_are_data_not_code(app_dir: Path, conf_dir: Path, tmp_path: Path) -> None:
    # a value that would be code in a generated .py file reaches gunicorn as the same string
    s = make(app_dir, conf_dir, APP_MODULE="app:create_app()")
    assert gunicorn_sees(s, tmp_path).wsgi_app == "app:create_app()"


# --- supervisord.conf


def test_supervisord_conf_parses_and_has_no_tcp_control_port(app_dir: Path, conf_dir: Path, tmp_path: Path) -> None:
    s = make(app_dir, conf_dir, RUNTIME_DIR=str(tmp_path / "rt"))
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(render.supervisord_conf(s, HOST, "secret"))
    assert "inet_http_server" not in parser.sections()
    assert parser["unix_http_server"]["file"].startswith(str(s.runtime_dir))
    assert {"program:gunicorn", "program:nginx"} <= set(parser.sections())


def test_nginx_is_stopped_gracefully_with_quit(app_dir: Path, conf_dir: Path, tmp_path: Path) -> None:
    s = make(app_dir, conf_dir, RUNTIME_DIR=str(tmp_path / "rt"))
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(render.supervisord_conf(s, HOST, "secret"))
    assert parser["program:nginx"]["stopsignal"] == "QUIT"
    assert parser["program:gunicorn"]["stopsignal"] == "TERM"


@pytest.mark.parametrize("graceful", ["0", "8", "30"])
def test_supervisord_waits_longer_than_gunicorns_graceful_timeout(app_dir: Path, conf_dir: Path, tmp_path: Path, graceful: str) -> None:
    s = make(app_dir, conf_dir, RUNTIME_DIR=str(tmp_path / "rt"), GRACEFUL_TIMEOUT=graceful, STOP_TIMEOUT="40")
    progs = programs(supervisord_sees(s))
    assert progs["gunicorn"].stopwaitsecs > int(graceful)
    assert progs["nginx"].stopwaitsecs > int(graceful)
    assert progs["nginx"].stopsignal == 3  # SIGQUIT, as supervisord itself resolved it


def test_supervisord_runs_the_rendered_configs(app_dir: Path, conf_dir: Path, tmp_path: Path) -> None:
    s = make(app_dir, conf_dir, RUNTIME_DIR=str(tmp_path / "rt"))
    paths = runtime.render_into(s, HOST)
    progs = programs(supervisord_sees(s))
    gunicorn = shlex.split(progs["gunicorn"].command)
    assert gunicorn[gunicorn.index("--config") + 1] == str(render.GUNICORN_CONFIG)
    # FORWARDED_ALLOW_IPS is hidden from gunicorn itself (see supervisord.conf.j2)
    assert progs["gunicorn"].environment == {render.GUNICORN_SETTINGS_VARIABLE: str(paths["gunicorn.json"]), "FORWARDED_ALLOW_IPS": ""}
    assert gunicorn[gunicorn.index("--bind") + 1] == f"unix:{s.socket_path}"
    assert progs["gunicorn"].directory == str(app_dir)
    nginx = shlex.split(progs["nginx"].command)
    assert nginx[nginx.index("-c") + 1] == str(paths["nginx.conf"]) == str(s.runtime_dir / "nginx.conf")


def test_an_app_dir_nginx_conf_replaces_the_generated_one(app_dir: Path, conf_dir: Path, tmp_path: Path) -> None:
    (app_dir / "nginx.conf").write_text("events {}\n")
    s = make(app_dir, conf_dir, RUNTIME_DIR=str(tmp_path / "rt"))
    runtime.prepare(s, HOST)
    paths = runtime.render_into(s, HOST)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(paths["supervisord.conf"])
    command = shlex.split(parser["program:nginx"]["command"])
    assert command[command.index("-c") + 1] == str(app_dir / "nginx.conf")
    assert (app_dir / "nginx.conf").read_text() == "events {}\n"  # never overwritten


@pytest.mark.parametrize("where", ["APP_DIR", "RUNTIME_DIR"])
def test_a_percent_sign_in_a_path_is_rejected_or_supervisord_accepts_it(tmp_path: Path, conf_dir: Path, where: str) -> None:
    app_dir = tmp_path / ("my%app" if where == "APP_DIR" else "app")
    app_dir.mkdir()
    (app_dir / "app.py").write_text("")
    runtime_dir = tmp_path / ("run%time" if where == "RUNTIME_DIR" else "runtime")
    try:
        s = make(app_dir, conf_dir, RUNTIME_DIR=str(runtime_dir))
    except SettingsError as exc:
        assert exc.name == where
        return
    progs = programs(supervisord_sees(s))
    assert progs["gunicorn"].directory == str(app_dir)


path_segment = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00/%"), min_size=1, max_size=10).filter(
    lambda s: s == s.strip() and s not in (".", "..")
)  # '%' is rejected by AbsPath


@hsettings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(app_name=path_segment, runtime_name=path_segment)
def test_any_accepted_app_dir_and_runtime_dir_reach_supervisord_intact(app_name: str, runtime_name: str) -> None:
    with tempfile.TemporaryDirectory(prefix="aiohttp-nginx-prop-") as scratch:
        base = Path(scratch)
        app_dir, runtime_dir = base / app_name, base / "runtime" / runtime_name
        env = {"APP_DIR": str(app_dir), "RUNTIME_DIR": str(runtime_dir), "NGINX_CONF_DIR": str(base / "conf")}
        try:
            for name in ("APP_DIR", "RUNTIME_DIR"):
                BY_NAME[name].parse(name, env[name])
        except SettingsError:
            return  # rejected up front: fine
        app_dir.mkdir()
        (app_dir / "app.py").write_text("")
        s = load(env, cpu_count=lambda: 1)
        runtime.prepare(s, HOST)
        paths = runtime.render_into(s, HOST)
        options = ServerOptions()
        options.configfile = str(paths["supervisord.conf"])
        options.process_config(do_usage=False)
        progs = programs(options)
        assert progs["gunicorn"].directory == str(app_dir)
        nginx = shlex.split(progs["nginx"].command)
        assert nginx[nginx.index("-c") + 1] == str(paths["nginx.conf"])


# --- the runtime directory


def test_only_the_stack_can_reach_gunicorns_socket_directory(app_dir: Path, conf_dir: Path, tmp_path: Path) -> None:
    s = make(app_dir, conf_dir, RUNTIME_DIR=str(tmp_path / "rt"))
    runtime.prepare(s, HOST)
    mode = stat.S_IMODE((s.runtime_dir / "run").stat().st_mode)
    assert mode & 0o007 == 0, oct(mode)  # nothing for "other"
    assert s.socket_path.parent == s.runtime_dir / "run"


def test_render_writes_the_three_files_into_out(app_dir: Path, conf_dir: Path, tmp_path: Path) -> None:
    s = make(app_dir, conf_dir, RUNTIME_DIR=str(tmp_path / "rt"))
    out = tmp_path / "out"
    paths = runtime.render_into(s, HOST, out)
    assert {p.name for p in out.iterdir()} == {"nginx.conf", "gunicorn.json", "supervisord.conf", "proxy-headers.conf", "proxy-maps.conf"}
    assert paths["nginx.conf"].read_text() == render.nginx_conf(s, HOST)
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {0o600}


def test_render_is_pure_the_same_input_gives_the_same_files(app_dir: Path, conf_dir: Path) -> None:
    s = make(app_dir, conf_dir)
    first = render.render(s, HOST, password="p", secret="proof", output_pid=1)
    (app_dir / "static").mkdir()  # the disk changes; the rendered text only follows the Settings
    assert render.render(s, HOST, password="p", secret="proof", output_pid=1) == first
    assert set(first) == {"nginx.conf", "gunicorn.json", "supervisord.conf", "proxy-headers.conf", "proxy-maps.conf"}


@pytest.mark.parametrize("ipv6", [True, False])
def test_nginx_listens_on_ipv6_only_when_the_host_has_it(app_dir: Path, conf_dir: Path, ipv6: bool) -> None:
    conf = render.nginx_conf(make(app_dir, conf_dir, BACKLOG="511", NGINX_WORKER_PROCESSES="1"), replace(HOST, ipv6=ipv6))
    expected = ["80 default_server backlog=511", "[::]:80 default_server ipv6only=on backlog=511"]
    assert directives(conf, "listen") == expected[: 2 if ipv6 else 1]


@pytest.mark.parametrize("value, quoted", [("/srv/app", "/srv/app"), ("/my dir", '"/my dir"'), ('/a"b', '"/a\\"b"')])
def test_the_nginx_filter_quotes_only_what_needs_it(value: str, quoted: str) -> None:
    assert render.nginx_quote(value) == quoted


@pytest.mark.parametrize(
    "value, word", [("/usr/bin/python3", "/usr/bin/python3"), ("/My Projects/bin/python", "'/My Projects/bin/python'"), ("/100%", "/100%%")]
)
def test_the_supervisord_filter_quotes_words_and_percent_signs(value: str, word: str) -> None:
    assert render.supervisord_arg(value) == word


# --- every variable at once, hostile values included (issue 11): a one-line SettingsError naming a variable
# we set, or configs that nginx -t and supervisord both accept - never a traceback


def _value_strategy(var: Any, scratch: str) -> Any:
    from aiohttp_nginx_base import settings as settings_module

    hostile = st.sampled_from(
        ["", " ", "0", "1", "-1", "auto", "off", "on", "*", "1k", "2g", "/", "a;b", "$x", "{", "%", "\u0661", " 1 ", "x\ny", "root"]
        + ["example.com", "*.example.com", "a,,b", "app:app", "main:create_app()", "/static", "https", "127.0.0.1", "10.0.0.0/8"]
    )
    text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=24)
    if isinstance(var.parse, (settings_module.AbsPath, settings_module.LogTarget)):
        # paths stay inside the scratch directory: nginx -t opens log files, and this may run as root
        name = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00/"), min_size=1, max_size=12)
        return st.one_of(name.map(lambda n: f"{scratch}/{n}"), st.sampled_from(["-", "off", "relative/path", scratch]))
    return st.one_of(hostile, text, st.just(var.default or ""))


@needs_nginx
@hsettings(max_examples=120, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_any_values_of_every_variable_give_one_line_or_configs_nginx_and_supervisord_accept(data: Any) -> None:
    from aiohttp_nginx_base import settings as settings_module

    with tempfile.TemporaryDirectory(prefix="aiohttp-nginx-fuzz-") as scratch:
        app_dir = Path(scratch) / "app"
        app_dir.mkdir()
        (app_dir / "app.py").write_text("")
        env = {"APP_DIR": str(app_dir), "NGINX_CONF_DIR": f"{scratch}/conf.d", "RUNTIME_DIR": f"{scratch}/runtime"}
        chosen = data.draw(
            st.lists(st.sampled_from([v for v in settings_module.VARIABLES if v.name != "APP_DIR"]), unique_by=lambda v: v.name)
        )
        for var in chosen:
            env[var.name] = data.draw(_value_strategy(var, scratch), label=var.name)
        try:
            s = load(env, cpu_count=lambda: 2)
        except SettingsError as exc:
            assert exc.name in env, exc
            assert "\n" not in str(exc).replace(repr(exc.value), "")
            return
        result = stack.nginx_test(s, HOST)
        assert result.returncode == 0, (env, result.stdout)
        assert set(programs(supervisord_sees(s))) == {"gunicorn", "nginx"}
        # and nginx starts on them and answers (within this machine's means: not thousands of workers)
        if startable(s):
            assert nginx_answers_at_start(s) == "", env


def startable(s: Settings) -> bool:
    """Whether a test may start nginx on these settings, within this machine's means (not a thousand workers)."""
    return s.nginx_worker_processes <= 16 and s.nginx_worker_processes * s.nginx_worker_connections <= 8 * 65536


def _bounds() -> List[Any]:
    """Every integer variable at its lowest and highest allowed value, with what makes nginx use it."""
    from aiohttp_nginx_base.parsers import Int, IntOrAuto

    enabling = {"NGINX_CLIENT_BURST": {"NGINX_CLIENT_RATE": "1"}}
    cases = []
    for var in VARIABLES:
        if isinstance(var.parse, (Int, IntOrAuto)):
            for value in (var.parse.low, var.parse.high or var.parse.low):
                cases.append(pytest.param(var.name, str(value), enabling.get(var.name, {}), id=f"{var.name}={value}"))
    return cases


@needs_nginx
@pytest.mark.parametrize("name, value, extra", _bounds())
def test_every_bound_of_every_integer_variable_gives_one_line_or_an_nginx_that_starts(
    app_dir: Path, conf_dir: Path, name: str, value: str, extra: Dict[str, str]
) -> None:
    # issue 20: NGINX_CLIENT_BURST=0 passed `check` and nginx refused it at start
    try:
        s = make(app_dir, conf_dir, **{name: value, **extra})
    except SettingsError as exc:
        assert exc.name in ("STOP_TIMEOUT", name) and "\n" not in str(exc), exc
        return
    assert_nginx_accepts(s)
    if startable(s):
        assert nginx_answers_at_start(s) == ""


@needs_nginx
def test_the_fewest_open_files_check_allows_still_start_nginx(app_dir: Path, conf_dir: Path) -> None:
    s = make(app_dir, conf_dir, NGINX_WORKER_PROCESSES="16", NGINX_WORKER_OPEN_FILES="80")
    assert nginx_answers_at_start(s) == ""
    with pytest.raises(SettingsError) as caught:
        make(app_dir, conf_dir, NGINX_WORKER_PROCESSES="16", NGINX_WORKER_OPEN_FILES="79")
    assert caught.value.name == "NGINX_WORKER_OPEN_FILES" and "at least 80" in str(caught.value)


@needs_nginx
def test_a_client_burst_of_zero_is_a_limit_without_burst(app_dir: Path, conf_dir: Path) -> None:
    s = make(app_dir, conf_dir, NGINX_CLIENT_RATE="5", NGINX_CLIENT_BURST="0")
    assert directives(render.nginx_conf(s, HOST), "limit_req") == ["zone=per_client_rate nodelay"] * 2
    assert nginx_answers_at_start(s) == ""


def test_gunicorn_starts_without_forwarded_allow_ips_and_the_app_gets_it_back(app_dir: Path, conf_dir: Path, tmp_path: Path) -> None:
    # gunicorn < 24 validates FORWARDED_ALLOW_IPS from its own environment and refuses networks (CIDRs) nginx takes
    s = make(app_dir, conf_dir, RUNTIME_DIR=str(tmp_path / "rt"), FORWARDED_ALLOW_IPS="10.0.0.0/8")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(render.supervisord_conf(s, HOST, "secret"))
    assert parser["program:gunicorn"]["environment"].endswith(',FORWARDED_ALLOW_IPS=""')
    assert render.gunicorn_settings(s, HOST)["app_forwarded_allow_ips"] == "10.0.0.0/8"
    assert render.gunicorn_settings(make(app_dir, conf_dir, RUNTIME_DIR=str(tmp_path / "rt")), HOST)["app_forwarded_allow_ips"] is None


# --- issue 20: only a syntactically valid address from a trusted X-Forwarded-For becomes the client


@hsettings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(st.one_of(st.ip_addresses().map(str), st.ip_addresses(v=6).map(lambda a: a.exploded)))
def test_the_address_pattern_takes_every_ip_address(address: str) -> None:
    assert re.fullmatch(f"{render.IPV4}|{render.IPV6}", address), address


@hsettings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(st.text("0123456789abcdefABCDEF.:", max_size=45) | st.sampled_from(["...", "cafe", "1.2.3.4:80", "::::", "1::2::3", "01.2.3.4"]))
def test_the_address_pattern_takes_nothing_else(text: str) -> None:
    import ipaddress

    if re.fullmatch(f"{render.IPV4}|{render.IPV6}", text):
        ipaddress.ip_address(text)  # raises for anything that is not an address


def test_app_user_is_switched_to_only_by_a_root_stack_and_never_to_root(app_dir: Path, conf_dir: Path, tmp_path: Path) -> None:
    root = replace(HOST, uid=0)
    s = make(app_dir, conf_dir, APP_USER="nobody")
    assert render.app_user(s, root) == "nobody"
    assert render.app_user(s, replace(HOST, uid=1000)) is None  # --user: nothing to switch from
    assert render.app_user(make(app_dir, conf_dir, APP_USER=root.root_name), root) is None  # opted back in
    assert render.app_user(make(app_dir, conf_dir), root) is None
    # gunicorn's config module installs the hooks that switch and that stop on a failed load, whatever WORKER_CLASS
    cfg = gunicorn_sees(s, tmp_path)
    assert cfg.post_fork.__module__ != "gunicorn.config" and cfg.child_exit.__module__ != "gunicorn.config"
