"""Settings -> nginx.conf, gunicorn.conf.py and supervisord.conf in the runtime directory."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Dict, Optional

from .settings import Settings

TEMPLATES = Path(__file__).with_name("templates")
MIME_TYPES = ("/etc/nginx/mime.types", "/usr/local/etc/nginx/mime.types", "/opt/homebrew/etc/nginx/mime.types")
NGINX_USERS = ("www-data", "nginx")
NGINX_SEARCH_PATH = ("/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/opt/homebrew/bin")
# How long nginx waits for gunicorn's socket before giving up (an app that
# hangs at import is reported instead of leaving a container that answers 502).
BOOT_TIMEOUT = 60
ACCESS_LOG_BUFFER = "4k"


class NginxMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class RenderedPaths:
    nginx_conf: Path
    gunicorn_conf: Path
    supervisord_conf: Path


def find_nginx() -> str:
    path = os.pathsep.join([os.environ.get("PATH", ""), *NGINX_SEARCH_PATH])
    found = shutil.which("nginx", path=path)
    if not found:
        raise NginxMissing(
            "nginx is not installed: install it with 'apt-get install nginx' (Debian/Ubuntu), "
            "'apk add nginx' (Alpine) or 'brew install nginx' (macOS)"
        )
    return found


def _is_root() -> bool:
    return os.geteuid() == 0


def _nginx_user(s: Settings) -> Optional[str]:
    """The unprivileged user nginx workers switch to when started as root."""
    if s.nginx_user:
        return s.nginx_user
    for name in NGINX_USERS:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return None


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def _nginx_log(target: Optional[str], stream: str, output_pid: Optional[int]) -> str:
    """nginx's log directive argument. `-` writes straight to the output of `output_pid` (the
    stack's PID 1) rather than through supervisord, which would relay every line in Python."""
    if target is None:
        return "off" if stream == "stdout" else "/dev/null"
    fd = 1 if stream == "stdout" else 2
    path = target if target != "-" else (f"/proc/{output_pid}/fd/{fd}" if output_pid else f"/dev/{stream}")
    # access lines are written in batches of PIPE_BUF (atomic on a pipe, whatever the worker count), at least once a second
    return f"{path} main buffer={ACCESS_LOG_BUFFER} flush=1s" if stream == "stdout" else path


def _nginx_error_level(level: str) -> str:
    # nginx's info level logs every closed keep-alive connection: one step quieter
    return {"debug": "info", "info": "warn", "warning": "warn", "error": "error", "critical": "crit"}[level]


def _static_locations(s: Settings) -> str:
    blocks = []
    if s.static_enabled:
        prefix = s.static_url.rstrip("/") + "/"
        blocks.append(f"        location {prefix} {{\n            alias {s.static_path}/;\n        }}\n")
        if s.static_index:
            blocks.append(
                f"        location = / {{\n            root {s.static_path};\n            try_files /index.html =404;\n        }}\n"
            )
    return "".join(blocks)


def nginx_conf(s: Settings, output_pid: Optional[int] = None) -> str:
    user = _nginx_user(s) if _is_root() else None
    keepalive = ""
    if s.keep_alive >= 1:
        # idle upstream connections close on nginx's side first, so nginx never
        # reuses one that gunicorn is closing at the same moment
        keepalive = f"        keepalive 64;\n        keepalive_timeout {max(500, s.keep_alive * 500)}ms;\n"
    text = Template((TEMPLATES / "nginx.conf.tmpl").read_text()).substitute(
        app_dir=s.app_dir,
        user_directive=f"user {user};\n" if user else "",
        worker_processes=s.nginx_worker_processes,
        open_files_directive=(f"worker_rlimit_nofile {s.nginx_worker_open_files};\n" if s.nginx_worker_open_files else ""),
        runtime_dir=s.runtime_dir,
        error_log=f"{_nginx_log(s.error_log, 'stderr', output_pid)} {_nginx_error_level(s.log_level)}",
        graceful_timeout=max(1, s.graceful_timeout),
        worker_connections=s.nginx_worker_connections,
        mime_types=next((p for p in MIME_TYPES if Path(p).is_file()), str(TEMPLATES / "mime.types")),
        access_log=_nginx_log(s.access_log, "stdout", output_pid),
        socket_path=s.socket_path,
        upstream_keepalive=keepalive,
        conf_dir=s.nginx_conf_dir,
        listen_port=s.listen_port,
        max_upload=s.nginx_max_upload,
        static_locations=_static_locations(s),
        websocket_timeout=s.nginx_websocket_timeout,
    )
    if not ipv6_available():
        text = "\n".join(line for line in text.splitlines() if "listen [::]" not in line) + "\n"
    return text


def _py(value: object) -> str:
    return repr(str(value)) if isinstance(value, Path) else repr(value)


def _worker_tmp_dir(s: Settings) -> str:
    # gunicorn's heartbeat file belongs on a memory file system when there is one
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else str(s.runtime_dir / "run")


def gunicorn_conf(s: Settings) -> str:
    return Template((TEMPLATES / "gunicorn.conf.py.tmpl").read_text()).substitute(
        app_module=_py(s.app_module),
        app_dir=_py(s.app_dir),
        bind=_py(f"unix:{s.socket_path}"),
        workers=s.workers,
        worker_class=_py(s.worker_class),
        timeout=s.timeout,
        graceful_timeout=s.graceful_timeout,
        keep_alive=s.keep_alive,
        log_level=_py(s.log_level),
        error_log=_py({None: "/dev/null", "-": "-"}.get(s.error_log, s.error_log)),
        worker_tmp_dir=_py(_worker_tmp_dir(s)),
        pidfile=_py(s.runtime_dir / "run" / "gunicorn.pid"),
        user_conf=_py(str(s.gunicorn_conf) if s.gunicorn_conf else None),
    )


def supervisord_conf(s: Settings, nginx_conf_path: Path, nginx_bin: str, reload: bool = False) -> str:
    return Template((TEMPLATES / "supervisord.conf.tmpl").read_text()).substitute(
        # the socket is 0700 already; credentials only keep supervisord from warning about it
        password=secrets.token_hex(16),
        runtime_dir=s.runtime_dir,
        user_line=f"user={pwd.getpwuid(0).pw_name}\n" if _is_root() else "",
        python=sys.executable,
        socket_path=s.socket_path,
        reload_flag=" --reload" if reload else "",
        app_dir=s.app_dir,
        stop_wait=s.graceful_timeout + 5,
        boot_timeout=BOOT_TIMEOUT,
        nginx=nginx_bin,
        nginx_conf=nginx_conf_path,
    )


def prepare_runtime_dir(s: Settings) -> None:
    """Create the runtime tree; only the stack can reach gunicorn's socket."""
    for sub in ("", "run", "nginx", "nginx/body", "nginx/proxy", "nginx/fastcgi", "nginx/uwsgi", "nginx/scgi"):
        (s.runtime_dir / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
    run_dir = s.runtime_dir / "run"
    user = _nginx_user(s) if _is_root() else None
    if user:
        # root's nginx workers run as `user`: let its group into the socket directory only
        entry = pwd.getpwnam(user)
        os.chmod(s.runtime_dir, 0o711)
        os.chmod(s.runtime_dir / "nginx", 0o711)  # its workers buffer bodies under nginx/
        os.chown(run_dir, 0, entry.pw_gid)
        # setgid: gunicorn's socket inherits the group, so nginx's workers may connect
        os.chmod(run_dir, 0o2750)
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.chown(s.runtime_dir / "nginx" / sub, entry.pw_uid, entry.pw_gid)


def user_nginx_conf(s: Settings) -> Optional[Path]:
    """tiangolo compatibility: APP_DIR/nginx.conf replaces the generated config."""
    candidate = s.app_dir / "nginx.conf"
    return candidate if candidate.is_file() else None


def render(
    s: Settings,
    out: Optional[Path] = None,
    reload: bool = False,
    nginx_bin: Optional[str] = None,
    supervisord: bool = True,
    output_pid: Optional[int] = None,
) -> RenderedPaths:
    """Write the three files to `out` (default: the runtime directory).

    A running supervisord keeps its config: `supervisord=False` leaves it alone on reload.
    """
    out = out or s.runtime_dir
    out.mkdir(parents=True, exist_ok=True)
    paths = RenderedPaths(out / "nginx.conf", out / "gunicorn.conf.py", out / "supervisord.conf")
    replacement = user_nginx_conf(s)
    nginx_conf_path = replacement or paths.nginx_conf
    files: Dict[Path, str] = {paths.nginx_conf: nginx_conf(s, output_pid), paths.gunicorn_conf: gunicorn_conf(s)}
    if supervisord:
        files[paths.supervisord_conf] = supervisord_conf(s, nginx_conf_path, nginx_bin or _nginx_or_name(), reload)
    for path, text in files.items():
        tmp = path.with_suffix(path.suffix + ".tmp")
        # only the stack reads them; supervisord.conf holds its socket's password
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out_file:
            out_file.write(text)
        tmp.replace(path)
    return RenderedPaths(nginx_conf_path, paths.gunicorn_conf, paths.supervisord_conf)


def _nginx_or_name() -> str:
    try:
        return find_nginx()
    except NginxMissing:
        return "nginx"
