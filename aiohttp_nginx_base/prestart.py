"""The prestart hook (tiangolo's /app/prestart.sh), the one implementation for the image and host mode.

The hook is *sourced* by `sh` (with `set -e`, as /start.sh always did), so plain
shell scripts work and their exports reach the app: after the hook, the same
shell execs a tiny Python that writes its environment to a pipe, and that
environment is what the settings are then validated on.

The hook runs in its own process group. A stop signal (SIGTERM, SIGINT, SIGQUIT)
is forwarded to that whole group, so `docker stop` or Ctrl-C ends a slow hook at
once (plus whatever the script itself traps) and the stack does not start.
Processes the hook leaves running in the background stay in that group; the
stack sends them SIGTERM when it stops (processes.end_group).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Dict, Mapping, Optional

from . import processes
from .say import say
from .settings import raw_values

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
DUMP_FD = 9
_DUMP = "import json, os, sys; f = os.fdopen(int(sys.argv[1]), 'w'); json.dump(dict(os.environ), f); f.close()"


class StopGuard:
    """Remembers the first stop signal from the moment prestart starts until supervisord's
    own handlers take over, and forwards each one to the hook's process group while it runs."""

    def __init__(self) -> None:
        self.signal: Optional[int] = None
        self.group: Optional[int] = None

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: Optional[FrameType]) -> None:
        self.signal = self.signal or signum
        if self.group:
            processes.signal_group(self.group, signum)


@dataclass(frozen=True)
class Result:
    env: Dict[str, str]  # the environment after the hook (its exports included)
    group: Optional[int]  # the hook's process group: what it left running in the background is in it
    exit_status: int  # 0: go on; else the status to exit with (the hook's, or 128 + the stop signal)


def hook_path(env: Mapping[str, str]) -> Optional[Path]:
    """The hook to source, if there is one. The value is validated later, with everything else."""
    raw = (raw_values(env)["PRE_START_PATH"] or "").strip()
    path = Path(raw)
    return path if raw.startswith("/") and path.is_file() else None


def run(env: Mapping[str, str], guard: StopGuard) -> Result:
    """Source the hook, if any, and return the environment it leaves."""
    hook = hook_path(env)
    if guard.signal:
        return Result(dict(env), None, 128 + guard.signal)
    if hook is None:
        return Result(dict(env), None, 0)
    say(f"sourcing {hook}")
    read_end, write_end = os.pipe()  # both close on exec; the child gets the write end as DUMP_FD

    def in_child() -> None:
        os.setpgrp()
        os.dup2(write_end, DUMP_FD)  # inheritable; dash and busybox only redirect fds 0-9

    # the hook runs without the pipe (its background processes must not hold it open);
    # the environment dump after it gets it
    script = (
        f"set -e; . {shlex.quote(str(hook))} {DUMP_FD}>&-; "
        f"exec {shlex.quote(sys.executable)} -E -S -c {shlex.quote(_DUMP)} {DUMP_FD}"
    )
    try:
        # close_fds=False: fds are non-inheritable by default (PEP 446); DUMP_FD is the one passed on
        hook_process = subprocess.Popen(["sh", "-c", script], env=dict(env), close_fds=False, preexec_fn=in_child)
    finally:
        os.close(write_end)
    guard.group = hook_process.pid
    if guard.signal:  # arrived between the check above and the group existing
        processes.signal_group(hook_process.pid, guard.signal)
    with os.fdopen(read_end, "rb") as dump:
        data = dump.read()
    status = hook_process.wait()
    if guard.signal:
        name = signal.Signals(guard.signal).name
        say(f"stopped by {name} while {hook} ran (its exit status {_status(status)}); not starting")
        return Result(dict(env), hook_process.pid, 128 + guard.signal)
    if status != 0:
        say(f"{hook} failed (exit status {_status(status)}); not starting")
        return Result(dict(env), hook_process.pid, status if status > 0 else 128 - status)
    try:
        after = json.loads(data.decode("utf-8", "surrogateescape"))
    except ValueError:
        say(f"{hook} left no readable environment; not starting")
        return Result(dict(env), hook_process.pid, 1)
    return Result({str(k): str(v) for k, v in after.items()}, hook_process.pid, 0)


def _status(returncode: int) -> str:
    return str(returncode) if returncode >= 0 else f"{128 - returncode}, killed by {signal.Signals(-returncode).name}"
