"""Environment -> one frozen Settings object.

Every variable the stack reads is declared once, as a field of ``Settings``:
its name, default, parser (parsers.py: what values are allowed) and meaning
ride on the field's metadata. ``VARIABLES`` (the README table, the Dockerfile
``ENV`` defaults, ``aiohttp-nginx variables``) is derived from those fields.
A field holds its variable's parsed value, or, where marked ``resolved``, the
effective value load() works out from it; fields made with ``derived()`` hold
facts load() reads from the app directory or the machine.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Tuple

from . import capacity, cpus, limits
from .parsers import (
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
    Parser,
    SettingsError,
    Size,
    Text,
    UrlPath,
    UserName,
)

if TYPE_CHECKING:
    from .host import Host

Env = Mapping[str, str]

__all__ = ["VARIABLES", "BY_NAME", "Settings", "SettingsError", "Variable", "load", "load_location", "raw_values"]


@dataclass(frozen=True)
class Variable:
    name: str
    default: Optional[str]  # as written in the environment; None means unset
    parse: Parser
    help: str
    section: str = "app"
    resolved: Optional[str] = None  # how load() turns the value into the field's effective one

    @property
    def allowed(self) -> str:
        return self.parse.allowed


_VARIABLE = "aiohttp_nginx_variable"
_DERIVED = "aiohttp_nginx_derived"


def variable(name: str, default: Optional[str], parse: Parser, help: str, section: str, resolved: Optional[str] = None) -> Any:
    """A Settings field that is an environment variable."""
    return dataclasses.field(metadata={_VARIABLE: Variable(name, default, parse, help, section, resolved)})


def derived(why: str) -> Any:
    """A Settings field that is no variable: load() derives it from the variables, the app directory or the machine."""
    return dataclasses.field(metadata={_DERIVED: why})


DEFAULT_WORKER = "aiohttp_nginx_base.worker.Worker"


class AppUser(UserName):
    allowed = "the name of an existing user (root: the app runs as root)"


@dataclass(frozen=True)
class Settings:
    # where the app is
    app_dir: Path = variable("APP_DIR", "/app", AbsPath(), "Directory of the app; the working directory and first on the import path.", "app")
    app_module: str = variable(
        "APP_MODULE",
        None,
        AppSpec(),
        "The app to serve as `module:variable`, or `module:factory(args)` with literal arguments; wins over MODULE_NAME/VARIABLE_NAME. See [Your app](#your-app) for what the variable may be.",
        "app",
        resolved='APP_MODULE, else MODULE_NAME (or the default module) and VARIABLE_NAME',
    )
    module_name: Optional[str] = variable(
        "MODULE_NAME",
        None,
        Identifier(dotted=True),
        "Module of the app. Default: `app.main` if `app/main.py` exists, else `main` if `main.py` exists, else `app`.",
        "app",
    )
    variable_name: str = variable(
        "VARIABLE_NAME",
        "app",
        AppVariable(),
        "The app in that module: a `web.Application`, or a plain or async factory (called once per worker, `create_app(args)` passes literal arguments).",
        "app",
    )
    pre_start_path: Path = variable(
        "PRE_START_PATH",
        "$APP_DIR/prestart.sh",
        AbsPath(),
        "Shell script sourced before start-up (its exports reach the app). Set explicitly, it must exist.",
        "app",
    )
    # nginx
    listen_port: int = variable(
        "LISTEN_PORT",
        "80",
        Int(1, 65535),
        "The only TCP port: where nginx listens (use >= 1024 when running as non-root). `aiohttp-nginx run` defaults to 8080.",
        "nginx",
    )
    nginx_max_upload: str = variable(
        "NGINX_MAX_UPLOAD",
        "1m",
        Size(),
        "Largest request body nginx accepts (413 beyond, before the app is touched): 1 MiB by default, as aiohttp's own `client_max_size`; 0 means unlimited.",
        "nginx",
    )
    compressed_requests: str = variable(
        "COMPRESSED_REQUESTS",
        "refuse",
        Choice("refuse", "raw", "inflate"),
        "Request bodies with a `Content-Encoding` aiohttp would inflate (gzip, deflate, br, zstd), which NGINX_MAX_UPLOAD "
        "counts compressed: `refuse` answers 413 before the app; `raw` passes them on as sent (the app inflates them, "
        "within its own bound); `inflate` lets aiohttp inflate them as the app reads (`read()`/`post()`/`json()` keep "
        "aiohttp's `client_max_size`, a streaming reader gets the inflated size: bound it in the app).",
        "nginx",
    )
    nginx_worker_processes: int = variable(
        "NGINX_WORKER_PROCESSES",
        "auto",
        IntOrAuto(1, 1024),
        "nginx worker processes; `auto`: the fewest that hold the connection target under the open-file limit (one with "
        "Docker's usual 1,048,576 files), at most one per usable CPU of the container. Each has its own listening socket.",
        "nginx",
        resolved="`auto` becomes the fewest workers that hold the connections, at most the usable CPUs",
    )
    nginx_worker_connections: int = variable(
        "NGINX_WORKER_CONNECTIONS",
        None,
        Int(16, 1048576),
        "Connections per nginx worker (each proxied request or websocket uses two). "
        "Default: from the open-file limit, less 64, capped at 65,536 for all workers together and by a memory limit "
        "(see Capacity).",
        "nginx",
    )
    nginx_worker_open_files: Optional[int] = variable(
        "NGINX_WORKER_OPEN_FILES",
        None,
        Int(1, 1048576),
        "Open-file limit per nginx worker (`worker_rlimit_nofile`). Default: NGINX_WORKER_CONNECTIONS + 64, "
        "within the hard limit.",
        "nginx",
    )
    nginx_max_concurrent: int = variable(
        "NGINX_MAX_CONCURRENT",
        None,
        Int(1, 65535),
        "Requests and websockets nginx passes to the app at once; beyond it, nginx answers 503 with `Retry-After: 1` "
        "at once. Default: from nginx's connections (two per request; slots kept for the keep-alive pool and to answer the overflow).",
        "nginx",
    )
    nginx_client_connections: int = variable(
        "NGINX_CLIENT_CONNECTIONS",
        "0",
        Int(0, 65535),
        "Requests and websockets one client address (as nginx concluded it: FORWARDED_ALLOW_IPS, PROXY_PROTOCOL) may have in flight at once (nginx `limit_conn`); "
        "beyond, 503 with `Retry-After` (nginx has one status for its connection limits). 0: no limit.",
        "nginx",
    )
    nginx_client_rate: int = variable(
        "NGINX_CLIENT_RATE",
        "0",
        Int(0, 1000000),
        "Requests per second one client address (as nginx concluded it) may make (nginx `limit_req`, burst NGINX_CLIENT_BURST, no delay); "
        "beyond, 429 with `Retry-After`. 0: no limit.",
        "nginx",
    )
    nginx_client_burst: int = variable(
        "NGINX_CLIENT_BURST",
        None,
        Int(0, 1000000),
        "Requests over NGINX_CLIENT_RATE a client may make at once before getting 429. Default: NGINX_CLIENT_RATE.",
        "nginx",
    )
    nginx_proxy_timeout: int = variable(
        "NGINX_PROXY_TIMEOUT",
        None,
        Int(1, 86400),
        "Seconds nginx waits on the app for a plain request (its upstream read and send timeouts; 504 after). "
        "Default: TIMEOUT.",
        "nginx",
    )
    nginx_websocket_timeout: int = variable(
        "NGINX_WEBSOCKET_TIMEOUT",
        "3600",
        Int(1, 604800),
        "Seconds an idle websocket is kept open through nginx. Only a real handshake (GET with `Upgrade: websocket` "
        "and `Connection: upgrade`) gets it.",
        "nginx",
    )
    nginx_conf_dir: Path = variable(
        "NGINX_CONF_DIR",
        "/etc/nginx/conf.d",
        AbsPath(),
        "Its `*.conf` files are included in nginx's `http` block and its `server/*.conf` files in the generated `server` block.",
        "nginx",
    )
    nginx_user: Optional[str] = variable(
        "NGINX_USER",
        None,
        UserName(),
        "User nginx's worker processes switch to when the stack runs as root (never root itself). Default: `www-data` (Debian) or `nginx` (Alpine); without either, starting as root is refused.",
        "nginx",
    )
    allowed_hosts: Optional[Tuple[str, ...]] = variable(
        "ALLOWED_HOSTS",
        None,
        HostList(),
        "Host names requests may carry in their `Host` header (comma-separated; `*.example.com` for its subdomains), and in a trusted peer's `X-Forwarded-Host` (FORWARDED_ALLOW_IPS): the host the app sees. Any other, or none, gets 421 from nginx before the app. Unset: any Host.",
        "nginx",
    )
    # the edge: what the load balancer in front may tell us, and how we answer it
    forwarded_allow_ips: Tuple[str, ...] = variable(
        "FORWARDED_ALLOW_IPS",
        None,
        AddressList(),
        "Peers (load balancers, ingress, CDN) whose X-Forwarded-For/-Proto/-Host and X-Request-ID (with PROXY_PROTOCOL=1: PROXY header) are believed: the app then sees "
        "the client they report (first untrusted address from the right of X-Forwarded-For), its scheme and host. Unset: nobody's. "
        "Same name and syntax as gunicorn's and uvicorn's.",
        "nginx",
        resolved='unset: nobody, ()',
    )
    proxy_protocol: bool = variable(
        "PROXY_PROTOCOL",
        "0",
        Bool(),
        "Every connection starts with a PROXY protocol header (AWS NLB, HAProxy): the client address comes from it when the peer "
        "is in FORWARDED_ALLOW_IPS (required: the balancer's addresses; `*` for one that preserves client addresses). "
        "X-Forwarded-* count one hop behind it only when the address the header names is listed too, never through `*`. "
        "Plain HTTP clients, including HTTP probes, are then refused; `aiohttp-nginx healthcheck` speaks it.",
        "nginx",
    )
    nginx_gzip: bool = variable(
        "NGINX_GZIP",
        "1",
        Bool(),
        "Compress text responses (html, css, js, json, xml, svg, plain) over 1 KiB for clients that accept gzip; "
        "serve `file.gz` next to a static file as it is.",
        "nginx",
    )
    static_url: str = variable("STATIC_URL", "/static", UrlPath(), "URL prefix under which nginx serves STATIC_PATH.", "nginx")
    static_path: Path = variable("STATIC_PATH", "$APP_DIR/static", AbsPath(), "Directory served by nginx at STATIC_URL, when it exists.", "nginx")
    static_index: bool = variable("STATIC_INDEX", "0", Bool(), "Serve `STATIC_PATH/index.html` at `/` from nginx.", "nginx")
    static_max_age: int = variable(
        "STATIC_MAX_AGE",
        "0",
        Int(0, 315360000),
        "Seconds browsers may reuse a static file without asking (`Cache-Control: public, max-age=N`); 0 sends `no-cache`: "
        "they revalidate every time and get 304 while the file is unchanged. Raise it for hashed file names.",
        "nginx",
    )
    # gunicorn
    workers: int = variable("WEB_CONCURRENCY", None, Int(1, 1024), "Number of gunicorn workers; wins over the computed count.", "gunicorn", resolved='WEB_CONCURRENCY, else computed from WORKERS_PER_CORE, MAX_WORKERS and the usable CPUs')
    workers_per_core: float = variable(
        "WORKERS_PER_CORE",
        "1",
        Float(),
        "Workers per usable CPU (cgroup quota, cpuset and affinity honoured), at least 2 in all.",
        "gunicorn",
    )
    max_workers: Optional[int] = variable(
        "MAX_WORKERS",
        None,
        Int(1, 1024),
        "Upper bound on the computed worker count (which a memory limit also bounds: 64 MiB a worker over a 96 MiB base).",
        "gunicorn",
    )
    max_requests: int = variable(
        "MAX_REQUESTS",
        "0",
        Int(0, 1 << 31),
        "A worker restarts after this many requests (gunicorn's `max_requests`, for apps that leak). 0: never.",
        "gunicorn",
    )
    max_requests_jitter: int = variable(
        "MAX_REQUESTS_JITTER",
        "0",
        Int(0, 1 << 31),
        "A random 0..N added to MAX_REQUESTS per worker, so workers do not restart together (gunicorn's `max_requests_jitter`).",
        "gunicorn",
    )
    backlog: int = variable(
        "BACKLOG",
        None,
        Int(1, 65535),
        "Listen backlog of gunicorn's unix socket and nginx's port. Default: net.core.somaxconn (what the kernel grants).",
        "gunicorn",
    )
    app_user: Optional[str] = variable(
        "APP_USER",
        None,
        AppUser(),
        "User gunicorn's workers, and so the app, run as when the stack runs as root (gunicorn's arbiter keeps root; "
        "prestart.sh still runs as root, before). The images set `aiohttp` (uid 10000): give it what the app writes "
        "(`chown aiohttp`). `root` (or unset) runs the app as root. Ignored when the stack runs as another user (`--user`).",
        "gunicorn",
    )
    worker_class: str = variable(
        "WORKER_CLASS",
        DEFAULT_WORKER,
        DottedClass(),
        "gunicorn worker class. The default runs uvloop and gives the app the real client address, scheme and host.",
        "gunicorn",
    )
    timeout: int = variable("TIMEOUT", "120", Int(1, 86400), "Seconds a silent worker may go before gunicorn restarts it.", "gunicorn")
    graceful_timeout: int = variable(
        "GRACEFUL_TIMEOUT",
        "8",
        Int(0, 86400),
        "Seconds in-flight requests get to finish on stop or reload (fits in `docker stop`'s 10 s).",
        "gunicorn",
    )
    keep_alive: int = variable(
        "KEEP_ALIVE",
        "75",
        Int(0, 3600),
        "Seconds gunicorn keeps an idle connection from nginx open; nginx drops idle upstream connections after half of it. 0 turns upstream keep-alive off.",
        "gunicorn",
    )
    log_level: str = variable(
        "LOG_LEVEL",
        "info",
        Choice("debug", "info", "warning", "error", "critical"),
        "Log level of gunicorn and nginx's error log.",
        "logging",
    )
    access_log: Optional[str] = variable(
        "ACCESS_LOG",
        "-",
        LogTarget(),
        "Access log (written by nginx, with the real client address): `-` for the container's output, a file path, or `off`.",
        "logging",
    )
    access_log_format: str = variable(
        "ACCESS_LOG_FORMAT",
        "combined",
        Choice("combined", "json"),
        "`combined`: nginx's combined line plus request time and request id; `json`: one JSON object per line.",
        "logging",
    )
    error_log: Optional[str] = variable(
        "ERROR_LOG",
        "-",
        LogTarget(),
        "Error log of gunicorn and nginx: `-` for the container's error output, a file path, or `off`.",
        "logging",
    )
    gunicorn_conf: Optional[Path] = variable(
        "GUNICORN_CONF",
        None,
        AbsPath(),
        "A gunicorn config file loaded after the generated one (its values win, except `bind`). Default: `APP_DIR/gunicorn_conf.py` if it exists.",
        "gunicorn",
        resolved='GUNICORN_CONF, else APP_DIR/gunicorn_conf.py if it exists',
    )
    gunicorn_cmd_args: Optional[str] = variable(
        "GUNICORN_CMD_ARGS",
        None,
        Text(),
        "Extra gunicorn command-line settings, honoured by gunicorn itself (they win over the config files).",
        "gunicorn",
    )
    # runtime
    runtime_dir: Path = variable(
        "RUNTIME_DIR",
        "/tmp/aiohttp-nginx",
        AbsPath(),
        "Where the generated configs, sockets and temp files go (so a read-only root works with a `/tmp` tmpfs).",
        "runtime",
    )
    # stopping behind a load balancer, and the probes it asks
    shutdown_delay: int = variable(
        "SHUTDOWN_DELAY",
        "0",
        Int(0, 3600),
        "Seconds the stack keeps serving after SIGTERM while it reports not ready (readiness probe 503, `aiohttp-nginx healthcheck` fails), so load balancers stop sending it requests before it stops. A second SIGTERM ends the delay.",
        "runtime",
    )
    stop_timeout: int = variable(
        "STOP_TIMEOUT",
        "10",
        Int(1, 86400),
        "Seconds the orchestrator allows between SIGTERM and SIGKILL (`docker stop`'s 10 s; Kubernetes' terminationGracePeriodSeconds). The stack refuses to start unless SHUTDOWN_DELAY + GRACEFUL_TIMEOUT + 2 fits in it.",
        "runtime",
    )
    probe_prefix: str = variable(
        "PROBE_PREFIX",
        "/_aiohttp-nginx",
        UrlPath(),
        "URL prefix of the probes nginx answers on LISTEN_PORT, whatever the Host: `PREFIX/livez` (nginx runs) and `PREFIX/readyz` (a gunicorn worker answers and the stack is not draining). Only those exact paths answer and go unlogged; the rest of the prefix is never passed to the app.",
        "runtime",
    )
    healthcheck_path: str = variable(
        "HEALTHCHECK_PATH",
        "/",
        UrlPath(),
        "Path `aiohttp-nginx healthcheck` requests through nginx; any status below 500 is healthy.",
        "runtime",
    )

    # --- derived: no variable of their own
    usable_cpus: int = derived("CPUs this container may use (cgroup quota, cpuset, affinity): cpus.py, via the Host")
    static_enabled: bool = derived("STATIC_PATH is a directory")
    user_nginx_conf: Optional[Path] = derived("APP_DIR/nginx.conf if it exists: it replaces the generated config (tiangolo's habit)")

    def as_dict(self) -> Dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}

    @property
    def socket_path(self) -> Path:
        return self.runtime_dir / "run" / "gunicorn.sock"

    @property
    def live_path(self) -> str:
        return probe_path(self.probe_prefix, "livez")

    @property
    def ready_path(self) -> str:
        return probe_path(self.probe_prefix, "readyz")

    @property
    def draining_flag(self) -> Path:
        """Present from SIGTERM on: nginx's readiness probe answers 503 and the healthcheck fails."""
        return self.runtime_dir / DRAINING_FLAG


DRAINING_FLAG = Path("run") / "draining"  # under RUNTIME_DIR


def probe_path(prefix: str, name: str) -> str:
    """A probe's path under PROBE_PREFIX (Kubernetes' own names: livez, readyz)."""
    return f"{prefix.rstrip('/')}/{name}"


# field name -> its variable, in declaration order (the README table's order)
FIELDS: Dict[str, Variable] = {f.name: f.metadata[_VARIABLE] for f in dataclasses.fields(Settings) if _VARIABLE in f.metadata}
VARIABLES: Tuple[Variable, ...] = tuple(FIELDS.values())
BY_NAME: Dict[str, Variable] = {v.name: v for v in VARIABLES}
DERIVED: Tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Settings) if _DERIVED in f.metadata)


def raw_values(env: Env) -> Dict[str, Optional[str]]:
    """The value of every variable: from env, else its default. Empty counts as set."""
    values = {v.name: env.get(v.name, v.default) for v in VARIABLES}
    app_dir = (values["APP_DIR"] or "").rstrip("/")
    for var in VARIABLES:
        if var.name not in env and var.default and var.default.startswith("$APP_DIR"):
            values[var.name] = app_dir + var.default[len("$APP_DIR") :]
    return values


def _parse(name: str, raw: Optional[str]) -> Any:
    var = BY_NAME[name]
    if raw is None:
        return None
    if raw.strip() == "" and not (isinstance(var.parse, Text) or var.parse.blank_ok):
        raise SettingsError(name, raw, var.allowed)
    return var.parse(name, raw)


def default_module(app_dir: Path) -> str:
    if (app_dir / "app" / "main.py").is_file():
        return "app.main"
    if (app_dir / "main.py").is_file():
        return "main"
    return "app"


def _check_module(name: str, spec: str, app_dir: Path) -> None:
    """The module must be a file in APP_DIR or importable; checked without importing it."""
    import importlib.util

    module = spec.split(":")[0]
    rel = Path(*module.split("."))
    if (app_dir / rel.with_suffix(".py")).is_file() or (app_dir / rel / "__init__.py").is_file():
        return
    top = module.split(".")[0]
    if not (app_dir / top).is_dir() and importlib.util.find_spec(top) is None:
        raise SettingsError(name, spec, f"no module {module!r} in {app_dir} (looked for {rel}.py)")


def load(env: Env = os.environ, cpu_count: Optional[Callable[[], int]] = None, host: Optional[Host] = None) -> Settings:
    """Build Settings from the environment; raises SettingsError on the first bad value.

    The usable CPUs come from `cpu_count`, else `host`, else are counted here; the container's
    limits (capacity) from `host`, else are read here.
    """
    raw = raw_values(env)
    parsed: Dict[str, Any] = {name: _parse(name, value) for name, value in raw.items()}

    app_dir: Path = parsed["APP_DIR"]
    if not app_dir.is_dir():
        raise SettingsError("APP_DIR", str(app_dir), "an existing directory")
    if parsed["APP_MODULE"]:
        app_var, app_module = "APP_MODULE", parsed["APP_MODULE"]
    else:
        module = parsed["MODULE_NAME"] or default_module(app_dir)
        app_var, app_module = ("MODULE_NAME" if parsed["MODULE_NAME"] else "APP_MODULE"), f"{module}:{parsed['VARIABLE_NAME']}"
    _check_module(app_var, app_module, app_dir)
    if parsed["STATIC_URL"] == "/":
        raise SettingsError("STATIC_URL", raw["STATIC_URL"] or "", "a prefix other than / (STATIC_INDEX=1 serves index.html at /)")

    if parsed["PROBE_PREFIX"] == "/":
        raise SettingsError("PROBE_PREFIX", raw["PROBE_PREFIX"] or "", "a prefix other than / (the whole prefix is reserved for the probes)")
    if "%" in parsed["PROBE_PREFIX"] or any(part in ("", ".", "..") for part in parsed["PROBE_PREFIX"].split("/")[1:]):
        # the probes answer only the exact path a client sends: one nginx would not have to normalise
        raise SettingsError("PROBE_PREFIX", raw["PROBE_PREFIX"] or "", "a plain path: no '%', '//', '.' or '..' segments (e.g. /_aiohttp-nginx)")

    if parsed["PROXY_PROTOCOL"] and not parsed["FORWARDED_ALLOW_IPS"]:
        raise SettingsError(
            "FORWARDED_ALLOW_IPS",
            raw["FORWARDED_ALLOW_IPS"] or "",
            "PROXY_PROTOCOL=1 believes a PROXY header only from these peers: set the balancer's addresses (e.g. 10.0.0.0/8), "
            "or * for a balancer that preserves client addresses (AWS NLB with client IP preservation), whose risk is that "
            "anyone who can reach LISTEN_PORT directly then chooses the client address",
        )

    for log in ("ACCESS_LOG", "ERROR_LOG"):
        # nginx cannot open a directory as its log (found by the all-variables fuzz test)
        if parsed[log] not in (None, "-") and Path(parsed[log]).is_dir():
            raise SettingsError(log, raw[log] or "", "a file path, not a directory ('-' for the container's output, or 'off')")

    if "PRE_START_PATH" in env and not parsed["PRE_START_PATH"].is_file():
        raise SettingsError("PRE_START_PATH", env["PRE_START_PATH"], "an existing file (unset it to skip the hook)")

    if parsed["NGINX_USER"]:
        try:
            entry = pwd.getpwnam(parsed["NGINX_USER"])
        except KeyError:
            raise SettingsError("NGINX_USER", parsed["NGINX_USER"], "an existing user") from None
        if entry.pw_uid == 0:
            raise SettingsError("NGINX_USER", parsed["NGINX_USER"], "an unprivileged user: nginx's workers never run as root")

    if parsed["APP_USER"]:
        try:
            app_entry = pwd.getpwnam(parsed["APP_USER"])
        except KeyError:
            raise SettingsError("APP_USER", parsed["APP_USER"], "an existing user (or root, to run the app as root)") from None
        # the app must not share a user or group with nginx's workers: the worker trusts connections to gunicorn's
        # socket from its own user, and the socket is open to nginx's group (SECURITY.md)
        for name in [parsed["NGINX_USER"]] if parsed["NGINX_USER"] else host.nginx_users if host is not None else ():
            try:
                nginx_entry = pwd.getpwnam(name)
            except KeyError:
                continue
            if app_entry.pw_uid != 0 and (app_entry.pw_uid == nginx_entry.pw_uid or app_entry.pw_gid == nginx_entry.pw_gid):
                raise SettingsError(
                    "APP_USER", parsed["APP_USER"], f"a user other than nginx's workers' ({name}) and outside their group"
                )

    gunicorn_conf: Optional[Path] = parsed["GUNICORN_CONF"]
    if gunicorn_conf is not None and not gunicorn_conf.is_file():
        raise SettingsError("GUNICORN_CONF", str(gunicorn_conf), "an existing gunicorn config file")
    if gunicorn_conf is None and (app_dir / "gunicorn_conf.py").is_file():
        gunicorn_conf = app_dir / "gunicorn_conf.py"

    _check_stop_budget(parsed["SHUTDOWN_DELAY"], parsed["GRACEFUL_TIMEOUT"], parsed["STOP_TIMEOUT"])

    if cpu_count is not None:
        usable = cpu_count()
    else:
        usable = host.usable_cpus if host is not None else cpus.usable_cpus()
    machine = host.limits if host is not None else limits.read()
    workers = parsed["WEB_CONCURRENCY"] or worker_count(
        usable, parsed["WORKERS_PER_CORE"], parsed["MAX_WORKERS"], by_memory=capacity.workers_by_memory(machine.memory)
    )
    nginx_workers = parsed["NGINX_WORKER_PROCESSES"]
    if nginx_workers == "auto":
        nginx_workers = capacity.nginx_workers(machine.open_files, usable, machine.memory)
    derived = capacity.derive(machine.open_files, nginx_workers, machine.memory, machine.somaxconn)
    connections = parsed["NGINX_WORKER_CONNECTIONS"] or derived.nginx_worker_connections
    client_rate = parsed["NGINX_CLIENT_RATE"]
    sized = {
        "nginx_worker_connections": connections,
        "nginx_worker_open_files": parsed["NGINX_WORKER_OPEN_FILES"]
        or (derived.nginx_worker_open_files if not parsed["NGINX_WORKER_CONNECTIONS"] else connections + capacity.NGINX_RESERVED_FILES),
        "nginx_max_concurrent": parsed["NGINX_MAX_CONCURRENT"] or capacity.in_flight_limit(nginx_workers, connections),
        "nginx_client_burst": client_rate if parsed["NGINX_CLIENT_BURST"] is None else parsed["NGINX_CLIENT_BURST"],
        "nginx_proxy_timeout": parsed["NGINX_PROXY_TIMEOUT"] or parsed["TIMEOUT"],
        "backlog": parsed["BACKLOG"] or derived.backlog,
    }

    # nginx's workers need files for their listeners, logs, event loop and each other before any connection: fewer,
    # and every worker dies at start ("epoll_create() failed (24: Too many open files)") while `nginx -t` passes
    open_files_floor = nginx_workers + capacity.NGINX_RESERVED_FILES
    if parsed["NGINX_WORKER_OPEN_FILES"] is not None and parsed["NGINX_WORKER_OPEN_FILES"] < open_files_floor:
        raise SettingsError(
            "NGINX_WORKER_OPEN_FILES",
            raw["NGINX_WORKER_OPEN_FILES"] or "",
            f"at least {open_files_floor} (NGINX_WORKER_PROCESSES + {capacity.NGINX_RESERVED_FILES}: what each nginx worker "
            "opens before its first connection)",
        )

    # fields named after their variable take its parsed value; the rest are derived above
    # each variable's field takes its parsed value; the `resolved` ones and the derived ones are worked out above
    direct = {field: parsed[var.name] for field, var in FIELDS.items()}
    return Settings(
        **{
            **direct,
            **sized,
            "app_module": app_module,
            "nginx_worker_processes": nginx_workers,
            "workers": workers,
            "gunicorn_conf": gunicorn_conf,
            "usable_cpus": usable,
            "static_enabled": parsed["STATIC_PATH"].is_dir(),
            "user_nginx_conf": app_dir / "nginx.conf" if (app_dir / "nginx.conf").is_file() else None,
            "forwarded_allow_ips": parsed["FORWARDED_ALLOW_IPS"] or (),
        }
    )


@dataclass(frozen=True)
class Location:
    """Where a running stack is and how to probe it: all `reload` and `healthcheck` need.

    They run beside the stack (`docker exec`, another shell in host mode) and must not
    depend on the app being importable from there, so only these variables are read.
    """

    runtime_dir: Path
    listen_port: int
    healthcheck_path: str
    allowed_hosts: Optional[Tuple[str, ...]]  # the healthcheck asks as an allowed name
    proxy_protocol: bool  # the health check must then start with a PROXY header


def load_location(env: Env = os.environ) -> Location:
    """Location from the environment, with the same defaults, parsers and errors as load()."""
    raw = raw_values(env)
    names = {f.name: FIELDS[f.name].name for f in dataclasses.fields(Location)}
    return Location(**{field: _parse(name, raw[name]) for field, name in names.items()})


# What a stop needs besides SHUTDOWN_DELAY and GRACEFUL_TIMEOUT: gunicorn is told up to 1 s after
# nginx (stack.Drain.NGINX_FIRST), and nginx relays the last answers for up to 1 s after gunicorn's
# deadline (its worker_shutdown_timeout is GRACEFUL_TIMEOUT + 1) before the processes exit.
STOP_MARGIN = 2


def _check_stop_budget(delay: int, graceful: int, stop_timeout: int) -> None:
    """SIGKILL must not arrive before the stack has drained and stopped gracefully."""
    needed = delay + graceful + STOP_MARGIN
    if needed > stop_timeout:
        raise SettingsError(
            "STOP_TIMEOUT",
            str(stop_timeout),
            f"at least SHUTDOWN_DELAY ({delay}) + GRACEFUL_TIMEOUT ({graceful}) + {STOP_MARGIN} s for nginx to relay the last "
            f"answers and the processes to exit = {needed}; raise it (with docker stop -t / terminationGracePeriodSeconds) "
            "or lower the others",
        )


def worker_count(cpus_: int, per_core: float, maximum: Optional[int], minimum: int = 2, by_memory: Optional[int] = None) -> int:
    """tiangolo's rule: per_core x CPUs, at least `minimum`, capped by `maximum`; then no more than fit in memory."""
    count = max(minimum, int(per_core * cpus_))
    count = min(count, maximum) if maximum else count
    return min(count, by_memory) if by_memory else count


def markdown_table() -> str:
    """The README's environment-variable table."""
    lines: List[str] = ["| Variable | Default | Allowed | Meaning |", "|---|---|---|---|"]
    for var in VARIABLES:
        default = "(unset)" if var.default is None else f"`{var.default}`"
        lines.append(f"| `{var.name}` | {default} | {var.allowed} | {var.help} |")
    return "\n".join(lines)
