"""The load tool: wrk, with a Lua hook that prints its summary as one JSON line."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from benchmarks.process import BenchError, run
from benchmarks.results import Measurement

# wrk prints one JSON line at the end (no per-request Lua hooks, so no slowdown).
WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p75_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(75), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


@dataclass(frozen=True)
class LoadOptions:
    """How each configuration is loaded, and when a measurement counts as disturbed by other work on the machine."""

    duration: float = 10  # seconds of recorded load
    warmup: float = 3  # seconds of load before, not recorded
    threads: int = 2
    connections: int = 64
    max_other: float = 0.15  # repeat a measurement when other processes used more than this share of the CPUs
    retries: int = 2
    quiet_wait: float = 20  # seconds to wait at most for an idle machine before each measurement
    retry_budget: float = 600  # seconds the whole run may spend repeating disturbed measurements

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> LoadOptions:
        return cls(
            duration=args.duration, warmup=args.warmup, threads=args.threads, connections=args.connections,
            max_other=args.max_other, retries=args.retries, quiet_wait=args.quiet_wait, retry_budget=args.retry_budget,
        )  # fmt: skip


def check_wrk() -> None:
    if not shutil.which("wrk"):
        raise BenchError("wrk is not installed")


def wrk_version() -> str:
    lines = run(["wrk", "-v"], timeout=10, check=False).stdout.splitlines()
    return lines[0].split(" Copyright")[0] if lines else "wrk"


def write_script(directory: Path) -> Path:
    """The Lua hook, as a file wrk can read."""
    path = directory / "report.lua"
    path.write_text(WRK_LUA)
    return path


def wrk(port: int, seconds: float, options: LoadOptions, script: Path, path: str = "/", headers: Sequence[str] = ()) -> Measurement:
    """`wrk` against GET `path` (default /) on 127.0.0.1:port for `seconds`, with extra `headers` ("Name: value")."""
    cmd = [
        "wrk", f"-t{options.threads}", f"-c{options.connections}", f"-d{seconds:g}s", "--latency", "--timeout", "5s",
        *(arg for header in headers for arg in ("-H", header)), "-s", str(script), f"http://127.0.0.1:{port}{path}",
    ]  # fmt: skip
    out = run(cmd, timeout=seconds + 30).stdout
    found = re.search(r"^WRKJSON (\{.*\})$", out, re.M)
    if not found:
        raise BenchError(f"no result from wrk:\n{out}")
    data = json.loads(found.group(1))
    errors = {kind: int(data[kind]) for kind in ("connect", "read", "write", "timeout")}
    return Measurement(
        requests=data["requests"],
        duration_us=data["duration_us"],
        bytes_read=data["bytes"],
        p50_us=data["p50_us"],
        p75_us=data["p75_us"],
        p90_us=data["p90_us"],
        p99_us=data["p99_us"],
        max_us=data["max_us"],
        mean_us=data["mean_us"],
        rps=data["requests"] / (data["duration_us"] / 1e6),
        non2xx=data["status"],
        socket_errors=sum(errors.values()),
        errors=errors,
        text=out[: found.start()].rstrip(),
    )
