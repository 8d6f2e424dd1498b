"""Signalling the stack's processes: by pid file, and whole process groups."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Optional


def signal_pidfile(path: Path, sig: int) -> bool:
    try:
        os.kill(int(path.read_text().strip()), sig)
        return True
    except (OSError, ValueError):
        return False


def signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except OSError:
        return False


def group_alive(pgid: int) -> bool:
    # as PID 1 the group's orphans are our children: reap the ones that ended, or they count as alive
    try:
        while os.waitpid(-pgid, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass
    try:
        os.killpg(pgid, 0)
        return True
    except OSError:
        return False


def end_group(pgid: Optional[int], seconds: float = 2.0) -> None:
    """SIGTERM to every process of the group; SIGKILL to what is left after `seconds`."""
    if not pgid:
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return
        time.sleep(0.02)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
