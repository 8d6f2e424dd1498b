"""The runtime directory as a private place: only the running user controls it, and nothing in it is followed.

RUNTIME_DIR defaults to a fixed name in /tmp, where any local user could create it first
or plant a symlink in it; root would then write its configs where that user points, or run
that user's gunicorn.conf.py. So:
- the directory is created private (0700, or 0711 when nginx's unprivileged workers pass
  through it), and its ancestors must be unchangeable by others (writable only by us or
  root, or sticky like /tmp, or a mount point of their own such as a pod's emptyDir);
- an existing one is used only if it is ours and not writable by group or others - or if
  it is a fresh, empty mount point we own (a `--tmpfs` at RUNTIME_DIR, an emptyDir), which
  is tightened and used;
- files are written to a new random name (O_EXCL|O_NOFOLLOW, through mkstemp) and renamed
  over the final name, so a symlink or file planted at any name is replaced, never followed.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Collection, Dict, List, Optional

from .settings import SettingsError

GROUP_OTHER_WRITE = stat.S_IWGRP | stat.S_IWOTH


def _refuse(name: str, path: Path, why: str) -> SettingsError:
    return SettingsError(name, str(path), why)


def _check_ancestors(path: Path, name: str) -> None:
    """Nobody but us or root can replace any directory on the way to `path`."""
    me = os.geteuid()
    current = Path(path.anchor)
    for part in path.parts[1:]:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return  # created by us below
        if stat.S_ISLNK(info.st_mode):
            if info.st_uid not in (0, me):
                raise _refuse(name, path, f"a path without another user's symlink ({current} belongs to uid {info.st_uid})")
            _check_ancestors(current.resolve(), name)
            continue
        if info.st_uid not in (0, me):
            raise _refuse(name, path, f"a path whose directories only this user or root control ({current} belongs to uid {info.st_uid})")
        # a mount point of its own (a Kubernetes emptyDir at /tmp is 0777, not sticky) belongs to this
        # container or pod alone: the orchestrator that made it is trusted, other local users are not on it
        if info.st_mode & GROUP_OTHER_WRITE and not info.st_mode & stat.S_ISVTX and not os.path.ismount(current):
            raise _refuse(name, path, f"a path whose directories others cannot change ({current} is writable by others and not sticky)")


def _fresh_mount(path: Path) -> bool:
    try:
        return os.path.ismount(path) and not any(os.scandir(path))
    except OSError:
        return False


def ensure_private_dir(path: Path, name: str, mode: int = 0o700, owners: Optional[Collection[int]] = None) -> None:
    """Create `path` with `mode`, or accept an existing directory only we control (then set `mode`).

    `owners`: uids besides ours that may own an existing one (the nginx user's temp dirs).
    Raises SettingsError naming `name` (one line, exit 2) otherwise.
    """
    me = os.geteuid()
    _check_ancestors(path.parent, name)
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise _refuse(name, path, "a directory (this is a symlink or a file: remove it)") from None
        ours = info.st_uid == me or info.st_uid in (owners or ())
        if not ours and _fresh_mount(path):
            why = f"a mount point owned by uid {me} (e.g. --tmpfs {path}:uid={me},mode=0700), or a path below this one"
            raise _refuse(name, path, why) from None
        if not ours:
            raise _refuse(
                name, path, f"a directory owned by uid {me} (this one belongs to uid {info.st_uid}: remove it or choose another)"
            ) from None
        if info.st_mode & GROUP_OTHER_WRITE and info.st_uid == me and not _fresh_mount(path):
            raise _refuse(name, path, "a directory others cannot write to (this one is group- or world-writable: remove it)") from None
        if info.st_uid != me:
            return  # the nginx user's own temp dir, left by an earlier start
    os.chmod(path, mode)  # exact mode, whatever the umask; tightens a fresh mount point


def write_private_files(directory: Path, files: Dict[str, str], mode: int = 0o600) -> None:
    """Write each file under a new random name, then rename all of them into place.

    All or nothing as far as it can be: if any write fails (a full disk), none of the
    final names changes and the temporary files are removed.
    """
    written: List[tuple[str, str]] = []
    try:
        for name, text in files.items():
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")  # O_CREAT|O_EXCL|O_NOFOLLOW
            written.append((tmp, name))
            with os.fdopen(fd, "w") as out:
                os.fchmod(out.fileno(), mode)
                out.write(text)
    except BaseException:
        for tmp, _ in written:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise
    for tmp, name in written:
        os.replace(tmp, directory / name)


def open_existing_private(path: Path) -> int:
    """A descriptor for writing an existing file of ours, refusing symlinks."""
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    if os.fstat(fd).st_uid != os.geteuid():
        os.close(fd)
        raise PermissionError(f"{path} is not ours")
    return fd


def first_closed_to(path: Path, uid: int, gids: Collection[int]) -> Optional[Path]:
    """The first directory on the way to `path` that this user cannot pass through, or None."""
    current = Path(path.anchor)
    for part in path.parts[1:]:
        current = current / part
        try:
            info = os.stat(current)
        except OSError:
            return None  # created by us below, with the right mode
        if info.st_uid == uid:
            allowed = bool(info.st_mode & stat.S_IXUSR)
        elif info.st_gid in gids:
            allowed = bool(info.st_mode & stat.S_IXGRP)
        else:
            allowed = bool(info.st_mode & stat.S_IXOTH)
        if not allowed:
            return current
    return None
