"""The runtime directory on disk: its tree, its permissions, and writing the rendered files into it.

The directory is private to the running user and nothing planted in it is followed (see private.py).
"""

from __future__ import annotations

import os
import pwd
import secrets
from pathlib import Path
from typing import Dict, Optional

from . import private, render, runfiles, trust
from .host import Host
from .settings import Settings, SettingsError

NGINX_TEMP = ("body", "proxy", "fastcgi", "uwsgi", "scgi")


def prepare(s: Settings, host: Host) -> None:
    """Create the runtime tree private to this user; only the stack can reach gunicorn's socket."""
    user = render.nginx_user(s, host)
    entry = pwd.getpwnam(user) if user else None
    # root's nginx workers run as `user`: they pass through the runtime dir and nginx/ (0711)
    top = 0o711 if entry else 0o700
    private.ensure_private_dir(s.runtime_dir, "RUNTIME_DIR", top)
    private.ensure_private_dir(s.runtime_dir / "run", "RUNTIME_DIR", 0o700)
    # a restarted container keeps its /tmp: a flag left by the last stop would keep it unready
    s.draining_flag.unlink(missing_ok=True)
    private.ensure_private_dir(s.runtime_dir / "nginx", "RUNTIME_DIR", top)
    for sub in NGINX_TEMP:
        # an earlier start may have left them owned by the nginx user
        private.ensure_private_dir(s.runtime_dir / "nginx" / sub, "RUNTIME_DIR", 0o700, owners=[entry.pw_uid] if entry else [])
    # where the workers report to the stack (runfiles.py): theirs, so that APP_USER's can write it
    workers = workers_user(s, host)
    reports = s.runtime_dir / runfiles.REPORTS
    if host.is_root and reports.is_dir() and not reports.is_symlink():
        os.lchown(reports, host.uid, -1)  # an earlier start's, maybe another APP_USER's: ours again first
    private.ensure_private_dir(reports, "RUNTIME_DIR", 0o700)
    if workers:
        os.lchown(reports, workers.pw_uid, workers.pw_gid)
    if entry:
        run_dir = s.runtime_dir / "run"
        # its group only into the socket's directory; setgid: gunicorn's socket inherits the group
        os.chown(run_dir, host.uid, entry.pw_gid)
        os.chmod(run_dir, 0o2750)
        for sub in NGINX_TEMP:
            # its workers buffer bodies there (lchown: never through a link)
            os.lchown(s.runtime_dir / "nginx" / sub, entry.pw_uid, entry.pw_gid)


def workers_user(s: Settings, host: Host) -> Optional[pwd.struct_passwd]:
    """APP_USER, when the stack runs as root and it names another user: the user gunicorn's workers (and so
    the app) switch to (gunicorn_conf.py's post_fork). None: they stay the stack's user."""
    name = render.app_user(s, host)
    return pwd.getpwnam(name) if name else None  # settings.load checked that it exists


def check_workers_reach(s: Settings, host: Host) -> None:
    """As root, nginx's unprivileged workers must pass through RUNTIME_DIR's parents to reach
    gunicorn's socket: one line at start rather than 502 forever."""
    user = render.nginx_user(s, host)
    if not user:
        return
    entry = pwd.getpwnam(user)
    closed = private.first_closed_to(s.runtime_dir.parent, entry.pw_uid, [entry.pw_gid])
    if closed:
        raise SettingsError(
            "RUNTIME_DIR", str(s.runtime_dir), f"a directory nginx's workers ({user}) can reach: {closed} is closed to them"
        )


def write(files: Dict[str, str], out: Path) -> Dict[str, Path]:
    """Write the files into `out` (0600; fresh names renamed into place, all or none); returns their paths."""
    private.write_private_files(out, files)
    return {name: out / name for name in files}


def render_into(
    s: Settings,
    host: Host,
    out: Optional[Path] = None,
    *,
    secret: Optional[str] = None,
    output_pid: Optional[int] = None,
    reload: bool = False,
    supervisord: bool = True,
) -> Dict[str, Path]:
    """Render and write the configs (default: into the runtime directory); returns their paths.

    `secret`: this start's proof (default: a new one); written beside gunicorn's socket for the
    worker when rendering into the runtime directory.
    """
    secret = secret or trust.new_secret()
    files = render.render(
        s, host, password=secrets.token_hex(16), secret=secret, output_pid=output_pid, reload=reload, supervisord=supervisord
    )
    if out is not None:
        private.ensure_private_dir(out, "--out", 0o700)
        return write(files, out)
    if not (s.runtime_dir / "run").is_dir():
        prepare(s, host)
    paths = write(files, s.runtime_dir)
    private.write_private_files(s.socket_path.parent, {trust.SECRET_NAME: secret})
    return paths
