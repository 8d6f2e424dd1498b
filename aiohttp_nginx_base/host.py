"""What the stack needs to know about the machine, gathered once per start.

Everything here is read from the running system (who we are, what the kernel
and file system offer, where nginx is); nothing comes from the environment
variables, which settings.py owns. render.py receives a Host and never probes.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Tuple

from . import cpus
from .limits import Limits
from .limits import read as read_limits

TEMPLATES = Path(__file__).with_name("templates")
MIME_TYPES = ("/etc/nginx/mime.types", "/usr/local/etc/nginx/mime.types", "/opt/homebrew/etc/nginx/mime.types")
# the distributions' unprivileged nginx users: Debian's first, then Alpine's
NGINX_USERS = ("www-data", "nginx")
NGINX_SEARCH_PATH = ("/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/opt/homebrew/bin")
SHM = Path("/dev/shm")
# nginx's brotli filter as the distributions ship it (Debian: libnginx-mod-http-brotli-filter,
# Alpine: nginx-mod-http-brotli; Fedora's path last): loaded when present, else compression is gzip only
BROTLI_MODULES = (
    "/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so",
    "/usr/lib64/nginx/modules/ngx_http_brotli_filter_module.so",
)


class NginxMissing(RuntimeError):
    pass


NGINX_MISSING = (
    "nginx is not installed: install it with 'apt-get install nginx' (Debian/Ubuntu), "
    "'apk add nginx' (Alpine) or 'brew install nginx' (macOS)"
)


@dataclass(frozen=True)
class Host:
    uid: int  # effective
    root_name: str  # the name of uid 0 (root, or toor)
    ipv6: bool  # ::1 can be bound, so nginx may listen on [::]
    nginx_bin: Optional[str]  # None: not installed
    mime_types: str  # the system's mime.types, else the copy shipped in templates/
    nginx_users: Tuple[str, ...]  # the NGINX_USERS that exist here, in order
    shm_writable: bool  # /dev/shm is a writable directory (gunicorn's heartbeat files go there)
    usable_cpus: int
    limits: Limits  # open files, memory, somaxconn: what capacity.py sizes the stack from
    python: str  # the interpreter supervisord starts gunicorn and waitfor with
    brotli_module: Optional[str] = None  # nginx's brotli filter module, when installed

    @property
    def is_root(self) -> bool:
        return self.uid == 0

    def require_nginx(self) -> str:
        if not self.nginx_bin:
            raise NginxMissing(NGINX_MISSING)
        return self.nginx_bin


def gather(cpu_count: Optional[Callable[[], int]] = None) -> Host:
    """Probe the machine once."""
    return Host(
        uid=os.geteuid(),
        root_name=pwd.getpwuid(0).pw_name,
        ipv6=ipv6_available(),
        nginx_bin=_which_nginx(),
        mime_types=next((p for p in MIME_TYPES if Path(p).is_file()), str(TEMPLATES / "mime.types")),
        nginx_users=tuple(name for name in NGINX_USERS if _user_exists(name)),
        shm_writable=SHM.is_dir() and os.access(SHM, os.W_OK),
        usable_cpus=(cpu_count or cpus.usable_cpus)(),
        limits=read_limits(),
        python=sys.executable,
        brotli_module=next((p for p in BROTLI_MODULES if Path(p).is_file()), None),
    )


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def _which_nginx() -> Optional[str]:
    path = os.pathsep.join([os.environ.get("PATH", ""), *NGINX_SEARCH_PATH])
    return shutil.which("nginx", path=path)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
