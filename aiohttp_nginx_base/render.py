"""Settings + Host -> the text of nginx.conf, gunicorn.json and supervisord.conf. Pure: no probing, no disk.

nginx.conf and supervisord.conf are Jinja2 templates in templates/; gunicorn's settings
are data (JSON), read by the fixed config module gunicorn_conf.py. runtime.py writes the files.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any, Dict, Optional

import jinja2

from . import runfiles, trust
from .host import NGINX_USERS, TEMPLATES, Host
from .settings import Settings, SettingsError

NGINX_CONF = "nginx.conf"
GUNICORN_JSON = "gunicorn.json"
SUPERVISORD_CONF = "supervisord.conf"
FILES = (NGINX_CONF, GUNICORN_JSON, SUPERVISORD_CONF)
# the fixed gunicorn config module, and the variable that names its JSON file
GUNICORN_CONFIG = Path(__file__).with_name("gunicorn_conf.py")
GUNICORN_SETTINGS_VARIABLE = "AIOHTTP_NGINX_GUNICORN_SETTINGS"
# How long nginx waits for gunicorn's socket before giving up (an app that
# hangs at import is reported instead of leaving a container that answers 502).
BOOT_TIMEOUT = 60
ACCESS_LOG_BUFFER = "4k"
# Where nginx's own error answers live: internal locations, unreachable from outside.
ERROR_PREFIX = "/__aiohttp_nginx__/error/"
# nginx's own error answers, by the status nginx gives them: (the status sent, its reason).
# 494 is nginx's internal code for an oversized request header: sent as 431.
ERROR_ANSWERS = {
    301: (301, "Moved Permanently"),  # a directory without its / (STATIC_PATH): the Location stays
    400: (400, "Bad Request"),
    403: (403, "Forbidden"),
    404: (404, "Not Found"),
    405: (405, "Method Not Allowed"),
    412: (412, "Precondition Failed"),
    413: (413, "Content Too Large"),
    414: (414, "URI Too Long"),
    416: (416, "Range Not Satisfiable"),
    421: (421, "Misdirected Request"),
    494: (431, "Request Header Fields Too Large"),
    500: (500, "Internal Server Error"),
    501: (501, "Not Implemented"),
    502: (502, "Bad Gateway"),
    503: (503, "Service Unavailable"),
    504: (504, "Gateway Timeout"),
    505: (505, "HTTP Version Not Supported"),
}
# nginx's answers to overload (NGINX_MAX_CONCURRENT, NGINX_CLIENT_CONNECTIONS) and to a client over NGINX_CLIENT_RATE:
# error-page name -> (status, the one line it says)
LIMIT_ANSWERS = {"overloaded": (503, "overloaded: retry later"), "too_many": (429, "too many requests from this client: retry later")}
ERROR_FORMATS = ("text", "json")
# Syntactically valid IP addresses, as PCRE (nginx) and Python's re both read them: only such an address from a
# trusted X-Forwarded-For becomes the client (a unit test checks them against the ipaddress module).
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H = r"[0-9A-Fa-f]{1,4}"
IPV6 = (
    rf"(?:(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,7}}:|(?:{_H}:){{1,6}}:{_H}|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}"
    rf"|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}"
    rf"|{_H}:(?::{_H}){{1,6}}|:(?:(?::{_H}){{1,7}}|:)"
    rf"|(?:{_H}:){{6}}{IPV4}|(?:{_H}:){{1,5}}:{IPV4}|(?:{_H}:){{1,4}}(?::{_H}){{1,1}}:{IPV4}"
    rf"|(?:{_H}:){{1,3}}(?::{_H}){{1,2}}:{IPV4}|(?:{_H}:){{1,2}}(?::{_H}){{1,3}}:{IPV4}|{_H}:(?::{_H}){{1,4}}:{IPV4}"
    rf"|::(?:{_H}:){{0,5}}{IPV4})"
)
# A host name as a client may write it in a trusted X-Forwarded-Host: letters, digits and '-' in dot-separated labels
# (a trailing dot allowed), or a bracketed IPv6 address; no '_', no empty label
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME = rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[{IPV6}\])"
# A search that finds a byte sequence which is not UTF-8 (what Python's strict decoder rejects: stray or
# missing continuation bytes, overlong forms, surrogates, beyond U+10FFFF). nginx's escape=json passes
# bytes >= 0x80 as they are, so the JSON access log replaces a value this finds. PCRE and Python's re
# read it alike (fixed-width lookbehinds), so a unit test checks it against the decoder.
INVALID_UTF8 = (
    r"[\xc0\xc1\xf5-\xff]"
    r"|[\xc2-\xdf](?![\x80-\xbf])|[\xe0-\xef](?![\x80-\xbf]{2})|[\xf0-\xf4](?![\x80-\xbf]{3})"
    r"|\xe0[\x80-\x9f]|\xed[\xa0-\xbf]|\xf0[\x80-\x8f]|\xf4[\x90-\xbf]"
    r"|(?<![\xc2-\xf4])(?<![\xe0-\xf4][\x80-\xbf])(?<![\xf0-\xf4][\x80-\xbf]{2})[\x80-\xbf]"
)
# ACCESS_LOG_FORMAT -> the log_format name in the template (`main` kept: user configs may name it)
LOG_FORMATS = {"combined": "main", "json": "aiohttp_nginx_json"}

_NGINX_BARE = re.compile(r"[A-Za-z0-9_./:@+=,~*-]+")


def nginx_quote(value: object) -> str:
    """A value as one nginx token: bare when it needs no quoting, else double-quoted."""
    text = str(value)
    if _NGINX_BARE.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def supervisord_value(value: object) -> str:
    """A value in supervisord.conf: '%' starts supervisord's own %(name)s expansion."""
    return str(value).replace("%", "%%")


def supervisord_arg(value: object) -> str:
    """One word of a supervisord `command=` or `environment=` value (split like a shell's)."""
    return supervisord_value(shlex.quote(str(value)))


_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # nginx and ini syntax, not HTML: quoting is the filters' job
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_ENVIRONMENT.filters.update(nginx=nginx_quote, sv=supervisord_value, sv_arg=supervisord_arg, regex=re.escape)


def _template(name: str, **context: Any) -> str:
    return _ENVIRONMENT.get_template(name).render(**context)


def nginx_user(s: Settings, host: Host) -> Optional[str]:
    """The unprivileged user nginx's workers switch to; None when not running as root.

    Never root: settings.load refuses an NGINX_USER of uid 0, and without one of the
    distribution's nginx users the stack refuses to start rather than run them as root.
    """
    if not host.is_root:
        return None
    user = s.nginx_user or next(iter(host.nginx_users), None)
    if user is None:
        raise SettingsError(
            "NGINX_USER",
            "",
            f"an unprivileged user for nginx's workers when running as root ({' and '.join(NGINX_USERS)} do not exist here)",
        )
    return user


def app_user(s: Settings, host: Host) -> Optional[str]:
    """The user gunicorn's workers (and so the app) switch to: APP_USER when the stack runs as root and it names
    another user; None (unset, root itself, or a stack that is not root) leaves them the stack's user."""
    if not host.is_root or not s.app_user or s.app_user == host.root_name:
        return None
    return s.app_user


def _nginx_log(target: Optional[str], stream: str, output_pid: Optional[int], log_format: str = "main") -> str:
    """nginx's log directive argument. `-` writes straight to the output of `output_pid` (the
    stack's PID 1) rather than through supervisord, which would relay every line in Python."""
    if target is None:
        return "off" if stream == "stdout" else "/dev/null"
    fd = 1 if stream == "stdout" else 2
    path = target if target != "-" else (f"/proc/{output_pid}/fd/{fd}" if output_pid else f"/dev/{stream}")
    # access lines are written in batches of PIPE_BUF (atomic on a pipe, whatever the worker count), at least once a second
    if stream != "stdout":
        return path
    # $aiohttp_nginx_logged (nginx.conf.j2) is 0 for the probes, whichever location ends up answering them
    return f"{path} {log_format} buffer={ACCESS_LOG_BUFFER} flush=1s if=$aiohttp_nginx_logged"


def _nginx_error_level(level: str) -> str:
    # nginx's info level logs every closed keep-alive connection: one step quieter
    return {"debug": "info", "info": "warn", "warning": "warn", "error": "error", "critical": "crit"}[level]


def error_page_regex() -> str:
    """The URIs of nginx's own error answers (internal locations): exempt from ALLOWED_HOSTS's 421."""
    names = sorted({str(status) for status, _ in ERROR_ANSWERS.values()} | set(LIMIT_ANSWERS))
    return "^" + re.escape(ERROR_PREFIX) + "(?:" + "|".join(names) + r")\.(?:" + "|".join(ERROR_FORMATS) + ")$"


def nginx_conf(s: Settings, host: Host, output_pid: Optional[int] = None) -> str:
    return _template(
        "nginx.conf.j2",
        s=s,
        host=host,
        user=nginx_user(s, host),
        error_log=f"{_nginx_log(s.error_log, 'stderr', output_pid)} {_nginx_error_level(s.log_level)}",
        access_log=_nginx_log(s.access_log, "stdout", output_pid, LOG_FORMATS[s.access_log_format]),
        proxy_headers=s.runtime_dir / trust.HEADERS_CONF,
        proxy_maps=s.runtime_dir / trust.MAPS_CONF,
        error_answers=ERROR_ANSWERS,
        error_prefix=ERROR_PREFIX,
        invalid_utf8=INVALID_UTF8,
        upstream=trust.UPSTREAM,
        limit_answers=LIMIT_ANSWERS,
        probe_regex="^(?:" + "|".join(re.escape(path) for path in (s.live_path, s.ready_path)) + ")$",
        error_page_regex=error_page_regex(),
        listen_options=f" backlog={s.backlog}" + (" reuseport" if s.nginx_worker_processes > 1 else ""),
    )


def proxy_maps_conf(s: Settings, secret: str) -> str:
    """RUNTIME_DIR/proxy-maps.conf: who the client is (FORWARDED_ALLOW_IPS, PROXY_PROTOCOL), at http level,
    and this start's proof (see trust.py) for requests to the app's upstream alone."""
    return _template(
        "proxy-maps.conf.j2", s=s, secret=secret, upstream=trust.UPSTREAM, ip_address=f"{IPV4}|{IPV6}", host_name=HOST_NAME
    )


def proxy_headers_conf() -> str:
    """RUNTIME_DIR/proxy-headers.conf: the client headers for the app, with the proof proxy-maps.conf maps."""
    return _template("proxy-headers.conf.j2", proof_header=trust.PROOF_HEADER, headers_conf=trust.HEADERS_CONF, maps_conf=trust.MAPS_CONF)


def gunicorn_settings(s: Settings, host: Host) -> Dict[str, Any]:
    """gunicorn's settings, by gunicorn's names; `user_conf` is loaded after them by gunicorn_conf.py."""
    return {
        "wsgi_app": s.app_module,
        "chdir": str(s.app_dir),
        "pythonpath": str(s.app_dir),
        "bind": [f"unix:{s.socket_path}"],
        "umask": 0o007,
        "workers": s.workers,
        "worker_class": s.worker_class,
        "timeout": s.timeout,
        "graceful_timeout": s.graceful_timeout,
        "keepalive": s.keep_alive,
        "backlog": s.backlog,
        "max_requests": s.max_requests,
        "max_requests_jitter": s.max_requests_jitter,
        "loglevel": s.log_level,
        "errorlog": {None: "/dev/null", "-": "-"}.get(s.error_log, s.error_log),
        "accesslog": None,  # nginx writes the access log, with the real client address
        "proc_name": "aiohttp-nginx",
        "pidfile": str(s.runtime_dir / "run" / "gunicorn.pid"),
        # gunicorn's heartbeat file belongs on a memory file system when there is one
        "worker_tmp_dir": "/dev/shm" if host.shm_writable else str(s.runtime_dir / "run"),
        "control_socket_disable": True,
        "user_conf": str(s.gunicorn_conf) if s.gunicorn_conf else None,
        # APP_USER: gunicorn_conf.py's post_fork switches each worker to it
        "app_user": app_user(s, host),
        # a worker that switched to APP_USER cannot signal the arbiter: the arbiter stops itself when this appears
        "app_load_failure": str(s.runtime_dir / runfiles.REPORTS / runfiles.LOAD_FAILURE),
        # supervisord hides FORWARDED_ALLOW_IPS from gunicorn (see supervisord.conf.j2); the app gets it back
        "app_forwarded_allow_ips": ",".join(s.forwarded_allow_ips) or None,
    }


def gunicorn_json(s: Settings, host: Host) -> str:
    return json.dumps(gunicorn_settings(s, host), indent=2) + "\n"


def supervisord_conf(s: Settings, host: Host, password: str, reload: bool = False) -> str:
    """`password` guards supervisord's socket (0700 already: it only keeps supervisord from warning)."""
    return _template(
        "supervisord.conf.j2",
        s=s,
        host=host,
        password=password,
        reload=reload,
        gunicorn_config=GUNICORN_CONFIG,
        gunicorn_json_variable=GUNICORN_SETTINGS_VARIABLE,
        gunicorn_json=s.runtime_dir / GUNICORN_JSON,
        nginx_conf=nginx_conf_path(s),
        stop_wait=s.graceful_timeout + 5,
        boot_timeout=BOOT_TIMEOUT,
    )


def nginx_conf_path(s: Settings) -> Path:
    """The nginx.conf nginx runs: APP_DIR/nginx.conf when the app ships one, else the generated one."""
    return s.user_nginx_conf or s.runtime_dir / NGINX_CONF


def render(
    s: Settings,
    host: Host,
    *,
    password: str,
    secret: str,
    output_pid: Optional[int] = None,
    reload: bool = False,
    supervisord: bool = True,
) -> Dict[str, str]:
    """File name -> text, for the runtime directory. A running supervisord keeps its
    config: `supervisord=False` leaves supervisord.conf out (on reload). `secret` is this
    start's proof that a request came through the generated config (see trust.py)."""
    files = {
        NGINX_CONF: nginx_conf(s, host, output_pid),
        GUNICORN_JSON: gunicorn_json(s, host),
        trust.HEADERS_CONF: proxy_headers_conf(),
        trust.MAPS_CONF: proxy_maps_conf(s, secret),
    }
    if supervisord:
        files[SUPERVISORD_CONF] = supervisord_conf(s, host, password, reload)
    return files
