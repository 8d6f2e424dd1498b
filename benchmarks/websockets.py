"""Websocket capacity: idle websockets the stack holds on its defaults before the first failure (or --limit).

The image runs with its defaults (only LISTEN_PORT set), limited to --cpus CPUs, on the host's network (Docker's
userland proxy would hold two descriptors per connection), with benchmarks/wsapp mounted as /app. Websockets are
opened --step at a time and all held; after each step the container's memory (`docker stats`) is read, and at the
end every held websocket must still echo. Prints a table and writes raw JSON to benchmarks/results/raw/.

Run: python -m benchmarks.websockets [--image REF] [--limit 10000] [--step 1000] [--cpus 2]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, List, Optional, Sequence

import aiohttp

from benchmarks.containers import HERE, Target, default_image, docker, free_port, start, stop
from benchmarks.measure import mib
from benchmarks.process import BenchError
from benchmarks.report import write_raw

OPENING_AT_ONCE = 256  # handshakes in flight together


@dataclass
class Step:
    held: int
    memory_mib: float
    seconds: float


@dataclass
class Capacity:
    image: str
    cpus: str
    limit: int
    idle_mib: float
    steps: List[Step] = field(default_factory=list)
    first_failure: Optional[str] = None
    echoed: int = 0

    @property
    def held(self) -> int:
        return self.steps[-1].held if self.steps else 0

    def mib_per_1000(self) -> Optional[float]:
        return (self.steps[-1].memory_mib - self.idle_mib) * 1000 / self.held if self.held else None


def raise_open_files() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def memory(container: str) -> float:
    return mib(docker("stats", "--no-stream", "--format", "{{.MemUsage}}", container, timeout=60).split("/")[0])


async def hold(port: int, container: str, result: Capacity, step: int, deadline: float) -> None:
    held: List[Any] = []  # aiohttp's websocket type is generic over its decode flag
    opening = asyncio.Semaphore(OPENING_AT_ONCE)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None, sock_connect=30)) as session:

        async def open_one() -> None:
            async with opening:
                if result.first_failure is None:
                    try:
                        held.append(await session.ws_connect(f"http://127.0.0.1:{port}/ws", autoping=False))
                    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                        result.first_failure = f"{type(exc).__name__}: {exc}"[:200]

        started = time.monotonic()
        while len(held) < result.limit and result.first_failure is None and time.monotonic() < deadline:
            await asyncio.gather(*(open_one() for _ in range(min(step, result.limit - len(held)))))
            loop = asyncio.get_running_loop()
            result.steps.append(Step(len(held), await loop.run_in_executor(None, memory, container), time.monotonic() - started))
            print(f"  {len(held):6d} websockets held, {result.steps[-1].memory_mib:7.1f} MiB", flush=True)

        async def echo(ws: Any) -> bool:
            try:
                await ws.send_str("ping")
                return bool((await ws.receive(timeout=60)).data == "ping")
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                return False

        result.echoed = sum(await asyncio.gather(*(echo(ws) for ws in held)))
        for ws in held:
            await ws.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.websockets", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--image", help="image under test (default $IMAGE:python3.13)")
    p.add_argument("--limit", type=int, default=10000, help="stop once this many are held (default 10000)")
    p.add_argument("--step", type=int, default=1000, help="websockets opened between memory readings (default 1000)")
    p.add_argument("--cpus", default="2", help="docker run --cpus (default 2)")
    p.add_argument("--seconds", type=float, default=600, help="time limit of the whole run (default 600)")
    args = p.parse_args(argv)
    if raise_open_files() < args.limit + 1000:
        print(f"the open-file limit is below --limit + 1000: {resource.getrlimit(resource.RLIMIT_NOFILE)}", file=sys.stderr)
        return 2
    ref = args.image or default_image()
    port = free_port()
    target = Target(
        "websockets", "stack (defaults) holding websockets", ref, port, env={"LISTEN_PORT": str(port)},
        mounts=[(str(HERE / "wsapp"), "/app")], extra_args=["--cpus", args.cpus],
    )  # fmt: skip
    try:
        start(target)
        result = Capacity(ref, args.cpus, args.limit, idle_mib=memory(target.container or ""))
        print(f"{ref}: --cpus {args.cpus}, idle {result.idle_mib:.1f} MiB", flush=True)
        asyncio.run(hold(port, target.container or "", result, args.step, time.monotonic() + args.seconds))
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        stop(target)
    per = result.mib_per_1000()
    print(
        f"\nheld {result.held} idle websockets (first failure: {result.first_failure or 'none'}), {result.echoed} echoed at the end; "
        f"memory {result.idle_mib:.1f} -> {result.steps[-1].memory_mib if result.steps else 0:.1f} MiB"
        + (f", {per:.1f} MiB per 1,000" if per is not None else "")
    )
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    print(f"raw: {write_raw({**asdict(result), 'mib_per_1000': per}, HERE / 'results', now, prefix='websockets-')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
