"""Environment -> Settings: defaults, worker maths, app discovery and the one-line errors users see."""

from __future__ import annotations

import dataclasses
import importlib.util
import ipaddress
import json
import math
import pwd
import re
import string
import tempfile
from pathlib import Path
from typing import Callable, Dict, Optional, cast

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from aiohttp_nginx_base import appspec, cli, render, stack
from aiohttp_nginx_base.host import gather
from aiohttp_nginx_base.limits import Limits
from aiohttp_nginx_base.settings import (
    DEFAULT_WORKER,
    VARIABLES,
    AbsPath,
    AddressList,
    AppSpec,
    AppVariable,
    Bool,
    Choice,
    DottedClass,
    Float,
    HostList,
    Identifier,
    Int,
    IntOrAuto,
    LogTarget,
    SettingsError,
    Size,
    Text,
    UrlPath,
    UserName,
    Variable,
    load,
    markdown_table,
)


def two_cpus() -> int:
    return 2


def env_for(app_dir: Path, **values: str) -> Dict[str, str]:
    return {"APP_DIR": str(app_dir), **values}


# --- defaults


def test_defaults_are_the_documented_ones(app_dir: Path) -> None:
    machine = dataclasses.replace(gather(), usable_cpus=2, limits=Limits(open_files=20000, memory=None, somaxconn=4096))
    s = load({"APP_DIR": str(app_dir)}, host=machine)

    assert s.app_dir == app_dir
    assert s.app_module == "app:app"
    assert s.pre_start_path == app_dir / "prestart.sh"
    assert s.listen_port == 80
    assert s.nginx_max_upload == "1m"  # aiohttp's own client_max_size; was 0 (unlimited)
    # capacity from the container (issue 13): nginx's workers follow the CPUs, its connections the open-file limit
    assert s.nginx_worker_processes == 2
    assert s.nginx_worker_connections == 20000 - 64
    assert s.nginx_worker_open_files == 20000
    assert s.nginx_max_concurrent == 2 * (20000 - 64 - 72) * 7 // 16
    assert s.nginx_client_connections == 0
    assert s.nginx_client_rate == 0
    assert s.nginx_proxy_timeout == 120  # TIMEOUT's
    assert s.backlog == 4096
    assert s.max_requests == 0
    assert s.max_requests_jitter == 0
    assert s.nginx_websocket_timeout == 3600
    assert s.nginx_conf_dir == Path("/etc/nginx/conf.d")
    assert s.static_url == "/static"
    assert s.static_path == app_dir / "static"
    assert s.static_index is False
    assert s.workers == 2
    assert s.worker_class == DEFAULT_WORKER
    assert s.timeout == 120
    assert s.graceful_timeout == 8
    assert s.keep_alive == 75
    assert s.log_level == "info"
    assert s.access_log == "-"
    assert s.error_log == "-"
    assert s.gunicorn_conf is None
    assert s.gunicorn_cmd_args is None
    assert s.runtime_dir == Path("/tmp/aiohttp-nginx")
    assert s.healthcheck_path == "/"
    assert s.usable_cpus == 2


@pytest.mark.parametrize("var", [v for v in VARIABLES if v.default is not None], ids=lambda v: v.name)
def test_every_default_is_accepted_by_its_own_parser(var: Variable) -> None:
    raw = var.default.replace("$APP_DIR", "/app") if var.default else ""
    var.parse(var.name, raw)  # raises SettingsError if the table contradicts itself


def test_settings_are_json_serialisable_for_the_config_verb(app_dir: Path) -> None:
    s = load({"APP_DIR": str(app_dir)}, cpu_count=two_cpus)
    assert json.loads(json.dumps(s.as_dict()))["app_dir"] == str(app_dir)


# --- worker maths


def test_web_concurrency_wins_over_the_computed_count(app_dir: Path) -> None:
    env = env_for(app_dir, WEB_CONCURRENCY="3", WORKERS_PER_CORE="4", MAX_WORKERS="2")
    assert load(env, cpu_count=lambda: 8).workers == 3


@pytest.mark.parametrize(
    "cpus, per_core, max_workers, expected",
    [
        (1, "1", None, 2),  # never fewer than two
        (2, "1", None, 2),
        (4, "1", None, 4),
        (4, "2", None, 8),
        (3, "1.5", None, 4),  # 4.5 rounds down
        (3, "0.5", None, 2),  # 1.5 -> 1 -> at least 2
        (8, "0.5", None, 4),
        (16, "1", "6", 6),  # capped
        (64, "2", "10", 10),
        (16, "1", "1", 1),  # the cap wins over the minimum of two
        (4, "1", "100", 4),  # a cap above the count changes nothing
    ],
)
def test_computed_workers_are_per_core_times_cpus_at_least_two_capped_by_max_workers(
    app_dir: Path, cpus: int, per_core: str, max_workers: Optional[str], expected: int
) -> None:
    env = env_for(app_dir, WORKERS_PER_CORE=per_core)
    if max_workers is not None:
        env["MAX_WORKERS"] = max_workers
    s = load(env, cpu_count=lambda: cpus)
    assert s.workers == expected
    assert s.usable_cpus == cpus


@hsettings(max_examples=50, deadline=None, derandomize=True, database=None)
@given(
    cpus=st.integers(1, 512),
    per_core=st.floats(0.01, 64, allow_nan=False),
    max_workers=st.none() | st.integers(1, 1024),
)
def test_computed_worker_count_stays_within_its_bounds(cpus: int, per_core: float, max_workers: Optional[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "app.py").write_text("")
        env = {"APP_DIR": tmp, "WORKERS_PER_CORE": repr(per_core)}
        if max_workers is not None:
            env["MAX_WORKERS"] = str(max_workers)
        workers = load(env, cpu_count=lambda: cpus).workers
        more = load(env, cpu_count=lambda: cpus + 1).workers
    assert workers >= 1
    assert workers <= max(2, per_core * cpus)
    if max_workers is None:
        assert workers >= 2
    else:
        assert workers <= max_workers
    assert more >= workers  # more CPUs never means fewer workers


@pytest.mark.parametrize(
    ("cpus", "open_files", "expected"),
    [
        (8, 1048576, 1),  # Docker's usual limit: one worker holds every connection
        (2, 20000, 2),  # 65,536 connections need four workers of 19,936: the CPUs cap it
        (8, 20000, 4),
        (1, 20000, 1),
        (3, 33000, 2),
    ],
)
def test_nginx_worker_processes_auto_is_the_fewest_that_hold_the_connections(
    app_dir: Path, cpus: int, open_files: int, expected: int
) -> None:
    machine = dataclasses.replace(gather(), usable_cpus=cpus, limits=Limits(open_files=open_files, memory=None, somaxconn=4096))
    s = load(env_for(app_dir, NGINX_WORKER_PROCESSES="auto"), host=machine)
    assert s.nginx_worker_processes == expected
    assert s.nginx_worker_processes * s.nginx_worker_connections >= min(65536, expected * (open_files - 64))


def test_explicit_nginx_worker_processes_ignore_the_cpu_count(app_dir: Path) -> None:
    assert load(env_for(app_dir, NGINX_WORKER_PROCESSES="3"), cpu_count=lambda: 16).nginx_worker_processes == 3


# --- which app is served


def test_app_main_py_is_detected_as_app_main(app_dir: Path) -> None:
    (app_dir / "app").mkdir()
    (app_dir / "app" / "main.py").write_text("")
    (app_dir / "main.py").write_text("")
    assert load(env_for(app_dir), cpu_count=two_cpus).app_module == "app.main:app"


def test_main_py_is_detected_as_main(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("")
    assert load(env_for(tmp_path), cpu_count=two_cpus).app_module == "main:app"


def test_without_main_modules_the_app_module_is_app(app_dir: Path) -> None:
    assert load(env_for(app_dir), cpu_count=two_cpus).app_module == "app:app"


def test_variable_name_picks_the_attribute(app_dir: Path) -> None:
    assert load(env_for(app_dir, VARIABLE_NAME="api"), cpu_count=two_cpus).app_module == "app:api"


def test_module_name_picks_a_dotted_module_in_app_dir(app_dir: Path) -> None:
    (app_dir / "pkg").mkdir()
    (app_dir / "pkg" / "__init__.py").write_text("")
    (app_dir / "pkg" / "web.py").write_text("")
    assert load(env_for(app_dir, MODULE_NAME="pkg.web"), cpu_count=two_cpus).app_module == "pkg.web:app"


def test_app_module_beats_module_name_and_variable_name(app_dir: Path) -> None:
    (app_dir / "main.py").write_text("")
    env = env_for(app_dir, APP_MODULE="main:create_app", MODULE_NAME="app", VARIABLE_NAME="other")
    assert load(env, cpu_count=two_cpus).app_module == "main:create_app"


@pytest.mark.parametrize(
    "name, value",
    [("MODULE_NAME", "no_such_module_for_the_test"), ("APP_MODULE", "no_such_module_for_the_test:app")],
)
def test_a_missing_module_is_reported_against_the_variable_that_named_it(app_dir: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(env_for(app_dir, **{name: value}), cpu_count=two_cpus)
    assert caught.value.name == name
    assert str(caught.value).startswith(f"{name}=")
    assert "no_such_module_for_the_test" in str(caught.value)


def test_an_app_dir_without_any_app_is_reported_as_app_module(tmp_path: Path) -> None:
    if importlib.util.find_spec("app") is not None:
        pytest.skip("a module named 'app' is importable in this interpreter")
    with pytest.raises(SettingsError) as caught:
        load(env_for(tmp_path), cpu_count=two_cpus)
    assert caught.value.name == "APP_MODULE"
    assert str(tmp_path) in str(caught.value)


@pytest.mark.parametrize("allowed", [None, "", " "])
def test_proxy_protocol_without_trusted_balancers_is_refused_in_one_line_explaining_star(app_dir: Path, allowed: Optional[str]) -> None:
    # issue 20: a PROXY header believed from everyone lets any TCP peer choose the client
    env = env_for(app_dir, PROXY_PROTOCOL="1", **({} if allowed is None else {"FORWARDED_ALLOW_IPS": allowed}))
    with pytest.raises(SettingsError) as caught:
        load(env, cpu_count=two_cpus)
    message = str(caught.value)
    assert caught.value.name == "FORWARDED_ALLOW_IPS" and "\n" not in message
    assert "PROXY_PROTOCOL=1" in message and "* for a balancer that preserves client addresses" in message
    assert "anyone who can reach LISTEN_PORT directly then chooses the client address" in message
    assert load(env_for(app_dir, PROXY_PROTOCOL="1", FORWARDED_ALLOW_IPS="*"), cpu_count=two_cpus).proxy_protocol


@pytest.mark.parametrize("prefix", ["/a//b", "/%5fprobes", "/a/../b", "/./probes", "/probes/."])
def test_a_probe_prefix_nginx_would_normalise_is_refused(app_dir: Path, prefix: str) -> None:
    # the probes answer only the exact path a client sends (issue 20): it must be one nginx leaves as it is
    with pytest.raises(SettingsError) as caught:
        load(env_for(app_dir, PROBE_PREFIX=prefix), cpu_count=two_cpus)
    assert caught.value.name == "PROBE_PREFIX"


def test_a_missing_app_dir_is_reported_as_app_dir(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load({"APP_DIR": str(tmp_path / "nowhere")}, cpu_count=two_cpus)
    assert caught.value.name == "APP_DIR"


# --- optional files


def test_pre_start_path_set_but_missing_is_an_error(app_dir: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load(env_for(app_dir, PRE_START_PATH=str(app_dir / "missing.sh")), cpu_count=two_cpus)
    assert caught.value.name == "PRE_START_PATH"
    assert "missing.sh" in str(caught.value)


def test_pre_start_path_set_and_present_is_used(app_dir: Path) -> None:
    script = app_dir / "hooks.sh"
    script.write_text("true\n")
    assert load(env_for(app_dir, PRE_START_PATH=str(script)), cpu_count=two_cpus).pre_start_path == script


def test_pre_start_path_unset_and_missing_is_fine(app_dir: Path) -> None:
    s = load(env_for(app_dir), cpu_count=two_cpus)
    assert s.pre_start_path == app_dir / "prestart.sh"
    assert not s.pre_start_path.exists()


def test_gunicorn_conf_set_but_missing_is_an_error(app_dir: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load(env_for(app_dir, GUNICORN_CONF=str(app_dir / "nope.py")), cpu_count=two_cpus)
    assert caught.value.name == "GUNICORN_CONF"


def test_gunicorn_conf_py_in_app_dir_is_picked_up(app_dir: Path) -> None:
    (app_dir / "gunicorn_conf.py").write_text("workers = 3\n")
    assert load(env_for(app_dir), cpu_count=two_cpus).gunicorn_conf == app_dir / "gunicorn_conf.py"


# --- static files and paths derived from APP_DIR


@pytest.mark.parametrize("url", ["/", "//", " / "])
def test_static_url_at_the_root_is_rejected(app_dir: Path, url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(env_for(app_dir, STATIC_URL=url), cpu_count=two_cpus)
    assert caught.value.name == "STATIC_URL"


def test_static_url_trailing_slash_is_dropped(app_dir: Path) -> None:
    assert load(env_for(app_dir, STATIC_URL="/assets/"), cpu_count=two_cpus).static_url == "/assets"


@pytest.mark.parametrize("suffix", ["", "/"])
def test_app_dir_defaults_follow_app_dir(app_dir: Path, suffix: str) -> None:
    s = load({"APP_DIR": str(app_dir) + suffix}, cpu_count=two_cpus)
    derived = {v.name: v.default for v in VARIABLES if v.default and v.default.startswith("$APP_DIR")}
    assert set(derived) >= {"PRE_START_PATH", "STATIC_PATH"}
    assert str(s.pre_start_path) == f"{app_dir}/prestart.sh"
    assert str(s.static_path) == f"{app_dir}/static"


def test_explicit_static_path_wins_over_the_app_dir_default(app_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "public"
    assert load(env_for(app_dir, STATIC_PATH=str(elsewhere)), cpu_count=two_cpus).static_path == elsewhere


def test_values_are_trimmed_of_surrounding_whitespace(app_dir: Path) -> None:
    env = env_for(app_dir, LISTEN_PORT=" 8080 ", LOG_LEVEL=" DEBUG ", STATIC_INDEX=" Yes ", NGINX_MAX_UPLOAD=" 10M ")
    s = load(env, cpu_count=two_cpus)
    assert (s.listen_port, s.log_level, s.static_index, s.nginx_max_upload) == (8080, "debug", True, "10m")


# --- every variable x awkward values

BAD_VALUES = ["", "abc", "-1", "0", "99999999999999999999", " ", "1e400", "/static dir", "a'b"]


def _is_int_between(value: str, low: int, high: Optional[int]) -> bool:
    if not re.fullmatch(r"[+-]?[0-9]+", value):
        return False
    number = int(value)
    return number >= low and (high is None or number <= high)


def _syntax_accepts(var: Variable, raw: str) -> bool:
    """What each parser documents in its `allowed` text, decided independently of the parser's code."""
    parser, value = var.parse, raw.strip()
    if isinstance(parser, Text):
        return True  # handed to gunicorn verbatim, which validates it itself
    if isinstance(parser, AddressList):
        # gunicorn's validator: comma-separated, each `*` or a strict network/address; empty means none
        for entry in (e.strip() for e in value.split(",")):
            if entry in ("", "*"):
                continue
            try:
                ipaddress.ip_network(entry)
            except ValueError:
                return False
        return True
    if value == "":
        return False  # set-but-empty is a mistake, never "use the default"
    if isinstance(parser, IntOrAuto):
        return value == "auto" or _is_int_between(value, parser.low, parser.high)
    if isinstance(parser, Int):
        return _is_int_between(value, parser.low, parser.high)
    if isinstance(parser, Float):
        try:
            number = float(value)
        except ValueError:
            return False
        return math.isfinite(number) and 0 < number < 1e6  # a ratio of workers per CPU, not infinity
    if isinstance(parser, Size):
        match = re.fullmatch(r"([0-9]{1,12})([kmg]?)", value.lower())
        if not match:
            return False
        return int(match[1]) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match[2]] <= 1 << 40
    if isinstance(parser, Bool):
        return value.lower() in {"1", "0", "true", "false", "yes", "no", "on", "off"}
    if isinstance(parser, Choice):
        return value.lower() in parser.choices
    if isinstance(parser, UrlPath):
        return value.startswith("/") and not re.search(r"[\s'\"{}]", value)
    if isinstance(parser, AbsPath):
        return value.startswith("/") and not re.search(r"[\s'\"{};$\\]", value)
    if isinstance(parser, LogTarget):
        return (
            value == "-"
            or value.lower() in {"off", "none", "false", "0"}
            or (value.startswith("/") and not re.search(r"[\s'\"{};$\\]", value))
        )
    ident = r"[A-Za-z_][A-Za-z0-9_]*"
    if isinstance(parser, (AppSpec, AppVariable)):
        return _parses_as_app(value if isinstance(parser, AppSpec) else f"app:{value}")
    if isinstance(parser, Identifier):
        return bool(re.fullmatch(rf"{ident}(\.{ident})*" if parser.dotted else ident, value))
    if isinstance(parser, DottedClass):
        return bool(re.fullmatch(rf"{ident}(\.{ident})+", value))
    if isinstance(parser, UserName):
        return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}", value))
    if isinstance(parser, HostList):
        label = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
        return all(re.fullmatch(rf"(\*\.)?{label}(\.{label})*\.?", part.strip().lower()) for part in value.split(","))
    pytest.fail(f"{var.name}: no documented expectation for parser {type(parser).__name__}; add one here")


def _parses_as_app(spec: str) -> bool:
    try:
        appspec.parse(spec)
    except ValueError:
        return False
    return True


def _user_exists(name: str) -> bool:
    """An existing user other than root: nginx's workers never run as root."""
    try:
        return pwd.getpwnam(name).pw_uid != 0
    except KeyError:
        return False


# Variables whose value must also name something that exists (checked after the syntax).
EXISTENCE: Dict[str, Callable[[str], bool]] = {
    "APP_DIR": lambda v: Path(v).is_dir(),
    "PRE_START_PATH": lambda v: Path(v).is_file(),
    "GUNICORN_CONF": lambda v: Path(v).is_file(),
    "MODULE_NAME": lambda v: importlib.util.find_spec(v.split(".")[0]) is not None,  # e.g. stdlib `abc`
    "APP_MODULE": lambda v: importlib.util.find_spec(v.split(":")[0].split(".")[0]) is not None,
    "NGINX_USER": _user_exists,
    "APP_USER": lambda v: _user_exists(v) or v == pwd.getpwuid(0).pw_name,  # root opts back in
    "STATIC_URL": lambda v: v.strip().rstrip("/") != "",
    "ACCESS_LOG": lambda v: not Path(v).is_dir(),  # "-" and "off" are no directories here
    "ERROR_LOG": lambda v: not Path(v).is_dir(),
}


def documented_outcome(var: Variable, raw: str) -> bool:
    if not _syntax_accepts(var, raw):
        return False
    check = EXISTENCE.get(var.name)
    return check(raw.strip()) if check else True


MATRIX = [pytest.param(var, value, id=f"{var.name}={value!r}") for var in VARIABLES for value in BAD_VALUES]


@pytest.mark.parametrize("var, value", MATRIX)
def test_every_variable_accepts_only_what_it_documents(app_dir: Path, var: Variable, value: str) -> None:
    env = env_for(app_dir, **{var.name: value})
    if documented_outcome(var, value):
        load(env, cpu_count=two_cpus)
        return
    with pytest.raises(SettingsError) as caught:
        load(env, cpu_count=two_cpus)
    assert caught.value.name == var.name
    assert str(caught.value).startswith(f"{var.name}=")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "var, value",
    MATRIX + [pytest.param(v, "line one\nline two", id=f"{v.name}=newline") for v in VARIABLES if v.name != "GUNICORN_CMD_ARGS"],
)
def test_the_cli_reports_a_bad_value_as_one_line_and_exit_status_2(
    app_dir: Path,
    clean_environ: Dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    var: Variable,
    value: str,
) -> None:
    monkeypatch.setenv("APP_DIR", str(app_dir))
    monkeypatch.setenv(var.name, value)
    status = cli.main(["config"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if documented_outcome(var, value):
        assert status == 0, err
        assert isinstance(json.loads(out), dict)
        return
    assert status == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"aiohttp-nginx: {var.name}=")


def test_the_workers_per_core_error_states_the_upper_bound(app_dir: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load(env_for(app_dir, WORKERS_PER_CORE="1000000"), cpu_count=two_cpus)
    assert re.search(r"1e\+?6|1000000|1 000 000|10\^6", caught.value.allowed)


# --- any valid settings give a configuration nginx accepts

HOST = gather()
NGINX_MISSING = HOST.nginx_bin is None
# Characters a path segment may hold: AbsPath allows all of these.
PATH_CHARS = string.ascii_letters + string.digits + "-_.,:@+=()!~#&*?[]^"
# UrlPath's documented alphabet.
URL_CHARS = string.ascii_letters + string.digits + "._~!&()*+,=:@%/-"


def _padded(value: str) -> st.SearchStrategy[str]:
    return st.sampled_from(["", " "]).map(lambda pad: pad + value + pad)


def _int_value(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).flatmap(lambda n: _padded(str(n)))


segment = st.text(PATH_CHARS, min_size=1, max_size=10).filter(lambda s: s not in (".", ".."))
sizes = st.tuples(st.integers(0, 999), st.sampled_from(["", "k", "K", "m", "M", "g", "G"])).map(lambda t: f"{t[0]}{t[1]}")
static_urls = st.text(URL_CHARS, min_size=1, max_size=20).map(lambda s: "/" + s).filter(lambda s: s.strip("/") != "")
bools = st.sampled_from(["1", "0", "true", "False", "YES", "no", "on", "OFF"])


ipv4_networks = st.builds(lambda a, n: str(ipaddress.ip_network((a, n), strict=False)), st.ip_addresses(v=4), st.integers(0, 32))
ipv6_networks = st.builds(lambda a, n: str(ipaddress.ip_network((a, n), strict=False)), st.ip_addresses(v=6), st.integers(0, 128))
forwarded_allow_ips = st.just("*") | st.just("") | st.lists(
    st.ip_addresses().map(str) | ipv4_networks | ipv6_networks, min_size=1, max_size=5
).map(", ".join)


@st.composite
def valid_environments(draw: st.DrawFn) -> Dict[str, object]:
    """A plan: variable values plus which paths under the scratch base must exist."""
    env: Dict[str, str] = {}
    optional = {
        "LISTEN_PORT": _int_value(1, 65535),
        "NGINX_MAX_UPLOAD": sizes,
        "NGINX_WORKER_PROCESSES": st.just("auto") | _int_value(1, 1024),
        "NGINX_WORKER_CONNECTIONS": _int_value(16, 1048576),
        "NGINX_WORKER_OPEN_FILES": _int_value(1024 + 64, 1048576),  # at least NGINX_WORKER_PROCESSES + 64
        "NGINX_WEBSOCKET_TIMEOUT": _int_value(1, 604800),
        "STATIC_URL": static_urls,
        "STATIC_INDEX": bools,
        "WEB_CONCURRENCY": _int_value(1, 1024),
        "WORKERS_PER_CORE": st.sampled_from(["0.5", "1", "2", "3.5"]),
        "MAX_WORKERS": _int_value(1, 1024),
        "TIMEOUT": _int_value(1, 86400),
        "GRACEFUL_TIMEOUT": _int_value(0, 86400),
        "KEEP_ALIVE": _int_value(0, 3600),
        "LOG_LEVEL": st.sampled_from(["debug", "info", "warning", "error", "critical", "INFO", "Warning"]),
        "HEALTHCHECK_PATH": static_urls,
        "FORWARDED_ALLOW_IPS": forwarded_allow_ips,
        "PROXY_PROTOCOL": bools,
        "NGINX_GZIP": bools,
        "STATIC_MAX_AGE": _int_value(0, 315360000),
        "ACCESS_LOG_FORMAT": st.sampled_from(["combined", "json", "JSON"]),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            env[name] = draw(strategy)
    # PROXY_PROTOCOL=1 needs the balancer's addresses (issue 20)
    if env.get("PROXY_PROTOCOL", "0").lower() in ("1", "true", "yes", "on") and not env.get("FORWARDED_ALLOW_IPS"):
        env["FORWARDED_ALLOW_IPS"] = draw(st.sampled_from(["*", "10.0.0.0/8"]))
    # the orchestrator's stop timeout always leaves room for the graceful stop
    env["STOP_TIMEOUT"] = str(int(env.get("GRACEFUL_TIMEOUT", "8")) + 2 + draw(st.integers(0, 100)))
    static_name, conf_name = draw(segment), draw(segment)
    plan: Dict[str, object] = {
        "env": env,
        "static_dir": draw(st.sampled_from([None, "inside", "elsewhere"])),
        "static_name": static_name,
        "conf_dir": draw(st.sampled_from([None, "missing", "empty"])),
        "conf_name": conf_name,
        "access_log": draw(st.sampled_from(["-", "off", "OFF", "0", "file", None])),
        "error_log": draw(st.sampled_from(["-", "off", "none", "file", None])),
        "log_name": draw(segment),
        "cpus": draw(st.integers(1, 64)),
    }
    return plan


def _materialise(plan: Dict[str, object], base: Path) -> Dict[str, str]:
    app_dir = base / "app"
    app_dir.mkdir()
    (app_dir / "app.py").write_text("")
    env = dict(cast(Dict[str, str], plan["env"]))
    env["APP_DIR"] = str(app_dir)
    static_dir = plan["static_dir"]
    if static_dir == "inside":
        (app_dir / "static").mkdir()
    elif static_dir == "elsewhere":
        path = base / str(plan["static_name"])
        path.mkdir()
        env["STATIC_PATH"] = str(path)
    if plan["conf_dir"] is not None:
        conf = base / "conf" / str(plan["conf_name"])
        if plan["conf_dir"] == "empty":
            (conf / "server").mkdir(parents=True)
        env["NGINX_CONF_DIR"] = str(conf)
    else:
        env["NGINX_CONF_DIR"] = str(base / "no-conf")  # keep the host's /etc/nginx/conf.d out of the test
    logs = base / "logs"
    logs.mkdir()
    for key, variable in (("access_log", "ACCESS_LOG"), ("error_log", "ERROR_LOG")):
        choice = plan[key]
        if choice == "file":
            env[variable] = str(logs / f"{plan['log_name']}.{key}")
        elif choice is not None:
            env[variable] = str(choice)
    return env


@pytest.mark.skipif(NGINX_MISSING, reason="nginx is not installed")
@hsettings(max_examples=30, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=valid_environments())
def test_any_valid_settings_render_a_config_that_nginx_accepts(plan: Dict[str, object]) -> None:
    with tempfile.TemporaryDirectory(prefix="aiohttp-nginx-prop-") as scratch:
        env = _materialise(plan, Path(scratch))
        cpu_count = cast(int, plan["cpus"])
        s = load(env, cpu_count=lambda: cpu_count)
        result = stack.nginx_test(s, HOST)
        assert result.returncode == 0, f"{env}\n{result.stdout}"
        json.loads(render.gunicorn_json(s, HOST))


# --- the README table


def test_markdown_table_has_one_row_per_variable() -> None:
    lines = markdown_table().splitlines()
    header, rule, rows = lines[0], lines[1], lines[2:]
    assert header.count("|") == rule.count("|") == 5
    assert len(rows) == len(VARIABLES)
    for var, row in zip(VARIABLES, rows):
        assert row.startswith(f"| `{var.name}` |")
        assert row.count("|") == 5, f"a '|' inside {var.name}'s text breaks the table: {row}"


# --- declared once


def test_every_settings_field_is_a_variable_or_marked_derived() -> None:
    from dataclasses import fields

    from aiohttp_nginx_base.settings import DERIVED, FIELDS, Settings

    names = [f.name for f in fields(Settings)]
    assert sorted(names) == sorted([*FIELDS, *DERIVED])
    assert not set(FIELDS) & set(DERIVED)
    assert set(DERIVED) == {"usable_cpus", "static_enabled", "user_nginx_conf"}


def test_every_variable_has_exactly_one_field() -> None:
    from aiohttp_nginx_base.settings import FIELDS

    assert len(set(FIELDS.values())) == len(VARIABLES) == len({v.name for v in VARIABLES})
    assert [v.name for v in FIELDS.values()] == [v.name for v in VARIABLES]


def test_each_field_holds_its_variables_value(app_dir: Path) -> None:
    s = load(env_for(app_dir, MODULE_NAME="app", VARIABLE_NAME="application", WORKERS_PER_CORE="3", MAX_WORKERS="5"), cpu_count=two_cpus)
    assert (s.module_name, s.variable_name, s.workers_per_core, s.max_workers) == ("app", "application", 3.0, 5)
    assert (s.app_module, s.workers) == ("app:application", 5)  # the resolved ones
