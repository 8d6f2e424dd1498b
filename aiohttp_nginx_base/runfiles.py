"""Files in RUNTIME_DIR/run through which gunicorn's workers tell the stack something once.

Kept free of imports beyond the standard library: `aiohttp-nginx start` (PID 1) reads these
without loading aiohttp.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

# RUNTIME_DIR/REPORTS: the directory these files go in, owned by the workers' user (APP_USER when the stack is root)
REPORTS = "reports"
# the one-line reason the app failed to load, written by the first worker that failed
LOAD_FAILURE = "app-load-failure"
# present once a worker has said that the app calls web.run_app()
RUN_APP_NOTE = "app-run-app-note"
MARKERS = (LOAD_FAILURE, RUN_APP_NOTE)


def claim(run_dir: Path, name: str, text: str = "") -> bool:
    """Create run_dir/name with `text` unless it exists: True for the one process that created it.

    Several workers load the app at the same moment; O_EXCL lets exactly one of them speak.
    A directory that cannot be written to (no stack around it) lets every caller speak.
    """
    try:
        fd = os.open(str(run_dir / name), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        return exc.errno != errno.EEXIST
    with os.fdopen(fd, "w", encoding="utf-8") as marker:
        marker.write(text)
    return True


def read(run_dir: Path, name: str, limit: int = 4096) -> str:
    """The text of run_dir/name, '' when absent or not a regular file; bounded, never through a
    symlink, and never blocking (a FIFO planted there would hold the stack's PID 1 in open())."""
    try:
        fd = os.open(str(run_dir / name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as marker:
        info = os.fstat(marker.fileno())
        # a hard link (the workers' user may own the directory) would be another file's text
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            return ""
        return marker.read(limit).decode("utf-8", "replace").strip()


def clear(run_dir: Path) -> None:
    """Forget what an earlier start said: each start of the stack says it once."""
    for name in MARKERS:
        try:
            os.unlink(str(run_dir / name))
        except OSError:
            pass
