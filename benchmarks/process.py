"""Running a tool (wrk, pidof) with a hard time limit; the benchmark's one error type."""

from __future__ import annotations

import shlex
import subprocess
from typing import Optional, Sequence


class BenchError(RuntimeError):
    """The benchmark cannot go on: the message says why."""


def run(cmd: Sequence[str], timeout: float, check: bool = True, input_: Optional[str] = None) -> subprocess.CompletedProcess[str]:
    """Run a command with a hard time limit; its stdout and stderr are captured apart."""
    try:
        done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, input=input_)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"timed out after {timeout:.0f} s: {shlex.join(cmd)}") from exc
    if check and done.returncode != 0:
        raise BenchError(f"exit {done.returncode}: {shlex.join(cmd)}\n{done.stderr.strip()[-2000:]}")
    return done
