"""The runtime directory on disk: its tree, its permissions, and writing the rendered files into it."""

from __future__ import annotations

import os
import pwd
import secrets
from pathlib import Path
from typing import Dict, Optional

from . import render
from .host import Host
from .settings import Settings

SUBDIRS = ("", "run", "nginx", "nginx/body", "nginx/proxy", "nginx/fastcgi", "nginx/uwsgi", "nginx/scgi")
NGINX_TEMP = ("body", "proxy", "fastcgi", "uwsgi", "scgi")


def prepare(s: Settings, host: Host) -> None:
    """Create the runtime tree; only the stack can reach gunicorn's socket."""
    for sub in SUBDIRS:
        (s.runtime_dir / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
    run_dir = s.runtime_dir / "run"
    user = render.nginx_user(s, host)
    if user:
        # root's nginx workers run as `user`: let its group into the socket directory only
        entry = pwd.getpwnam(user)
        os.chmod(s.runtime_dir, 0o711)
        os.chmod(s.runtime_dir / "nginx", 0o711)  # its workers buffer bodies under nginx/
        os.chown(run_dir, 0, entry.pw_gid)
        # setgid: gunicorn's socket inherits the group, so nginx's workers may connect
        os.chmod(run_dir, 0o2750)
        for sub in NGINX_TEMP:
            os.chown(s.runtime_dir / "nginx" / sub, entry.pw_uid, entry.pw_gid)


def write(files: Dict[str, str], out: Path) -> Dict[str, Path]:
    """Write each file into `out` (0600, through a temporary file and a rename); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths: Dict[str, Path] = {}
    for name, text in files.items():
        path = out / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        # only the stack reads them; supervisord.conf holds its socket's password
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out_file:
            out_file.write(text)
        tmp.replace(path)
        paths[name] = path
    return paths


def render_into(
    s: Settings,
    host: Host,
    out: Optional[Path] = None,
    *,
    output_pid: Optional[int] = None,
    reload: bool = False,
    supervisord: bool = True,
) -> Dict[str, Path]:
    """Render and write the configs (default: into the runtime directory); returns their paths."""
    files = render.render(s, host, password=secrets.token_hex(16), output_pid=output_pid, reload=reload, supervisord=supervisord)
    return write(files, out or s.runtime_dir)
