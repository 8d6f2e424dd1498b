"""What NGINX_GZIP costs and saves: bytes and requests/s of a 20 KB JSON response, and the hello figure, gzip on and off.

Two stack containers of the image (host networking, the same gunicorn workers) serve benchmarks/apps/compression:
NGINX_GZIP=1 (the default) and NGINX_GZIP=0. Every client sends `Accept-Encoding: gzip`, as browsers and most HTTP
libraries do. Rounds alternate the configurations, each measurement after a warm-up; medians are reported. The hello
body is under gzip_min_length, so its figure should not move; the JSON one trades nginx CPU for ~90% fewer bytes.

    PYTHONPATH=. .venv/bin/python -m benchmarks.compression [--rounds 3 --duration 5 --warmup 2]

Writes benchmarks/results/compression.md (and raw JSON in benchmarks/results/raw/).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from pytest_aiohttp_nginx.docker import ContainerError

from benchmarks.containers import HERE, Session, cleanup_leftovers, default_image, image_id, stack_target, start
from benchmarks.load import LoadOptions, check_wrk, write_script, wrk
from benchmarks.measure import cpu_ns, loadavg, machine
from benchmarks.process import BenchError
from benchmarks.report import write_raw

APP = HERE / "apps" / "compression"
RESULTS = HERE / "results"
ACCEPT_GZIP = "Accept-Encoding: gzip"
PATHS = {"json20k": "/json20k", "hello": "/"}


@dataclass
class Figure:
    """One configuration and path over the rounds."""

    gzip: bool
    path: str
    rps: List[float]
    bytes_per_response: List[float]  # wrk's bytes read per request: status line, headers and body
    cpu_ms_per_1k: List[float] = field(default_factory=list)  # the container's CPU (nginx + gunicorn) per 1000 requests

    @property
    def cpu_median(self) -> Optional[float]:
        return statistics.median(self.cpu_ms_per_1k) if self.cpu_ms_per_1k else None

    @property
    def rps_median(self) -> float:
        return statistics.median(self.rps)

    @property
    def bytes_median(self) -> float:
        return statistics.median(self.bytes_per_response)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.compression", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--image", help="image under test (default $IMAGE:python3.13)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="rounds; each measures every configuration and path once (default 3)")
    p.add_argument("--duration", type=float, default=5, help="seconds of recorded load per measurement (default 5)")
    p.add_argument("--warmup", type=float, default=2, help="seconds of load before each measurement (default 2)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    p.add_argument("--no-write", action="store_true", help="print only, leave compression.md alone")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory (default benchmarks/results)")
    args = p.parse_args(argv)
    if args.workers < 1 or args.rounds < 1 or args.duration <= 0 or args.warmup < 0 or args.connections < 1:
        p.error("--workers, --rounds, --connections must be >= 1, --duration > 0, --warmup >= 0")
    return args


def markdown(figures: List[Figure], command: str, image: str, date: str, nproc: int, load: str) -> str:
    lines = [
        "### Compression (NGINX_GZIP)",
        "",
        f"`{command}` on {date}, image `{image}`, {nproc} CPUs (load average before and after: {load});",
        f"every client sends `{ACCEPT_GZIP}`; medians over the rounds. Bytes per response are what the client read:",
        "status line, headers and body. Requests/s are only comparable within one run, on an otherwise idle machine.",
        "",
        "The container's CPU per 1000 requests (cgroup accounting) depends far less on other work than requests/s.",
        "",
        "| Response | NGINX_GZIP | requests/s | container CPU ms per 1000 requests | bytes per response |",
        "|---|---|---|---|---|",
    ]
    for figure in figures:
        cpu = "n/a" if figure.cpu_median is None else f"{figure.cpu_median:,.0f}"
        lines.append(f"| `{figure.path}` | {int(figure.gzip)} | {figure.rps_median:,.0f} | {cpu} | {figure.bytes_median:,.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    options = LoadOptions(duration=args.duration, warmup=args.warmup, connections=args.connections)
    given = list(argv if argv is not None else sys.argv[1:])
    command = "python -m benchmarks.compression" + (" " + shlex.join(given) if given else "")
    session = Session()
    try:
        check_wrk()
        cleanup_leftovers()
        ref = args.image or default_image()
        image = image_id(ref)
        mount = [(str(APP), "/app")]
        session.targets = [
            stack_target(image, args.workers, {"NGINX_GZIP": "1"}, key="gzip-on", title="NGINX_GZIP=1"),
            stack_target(image, args.workers, {"NGINX_GZIP": "0"}, key="gzip-off", title="NGINX_GZIP=0"),
        ]
        for target in session:
            target.mounts = mount
            print(f"{target.key}: up on 127.0.0.1:{target.port} in {start(target):.2f} s", flush=True)
        load_before = " ".join(loadavg())
        figures: Dict[str, Figure] = {
            f"{t.key} {name}": Figure(t.env["NGINX_GZIP"] == "1", path, [], []) for t in session for name, path in PATHS.items()
        }
        with tempfile.TemporaryDirectory(prefix="aiohttp-nginx-bench-") as tmp:
            script = write_script(Path(tmp))
            for round_ in range(args.rounds):
                for name, path in PATHS.items():
                    for target in session:
                        if options.warmup:
                            wrk(target.port, options.warmup, options, script, path, [ACCEPT_GZIP])
                        before = cpu_ns(target.container or "")
                        got = wrk(target.port, options.duration, options, script, path, [ACCEPT_GZIP])
                        after = cpu_ns(target.container or "")
                        if got.non2xx or got.socket_errors:
                            raise BenchError(f"{target.key} {path}: {got.non2xx} non-2xx, {got.socket_errors} socket errors")
                        figure = figures[f"{target.key} {name}"]
                        figure.rps.append(got.rps)
                        figure.bytes_per_response.append(got.bytes_read / max(1, got.requests))
                        if before is not None and after is not None:
                            figure.cpu_ms_per_1k.append((after - before) / 1e6 / max(1, got.requests) * 1000)
                        size = figure.bytes_per_response[-1]
                        print(f"round {round_ + 1}: {target.key} {path}: {got.rps:,.0f} req/s, {size:,.0f} B", flush=True)
        session.stop_all()
        now = dt.datetime.now(dt.timezone.utc)
        ordered = sorted(figures.values(), key=lambda f: (f.path != "/json20k", not f.gzip))
        load = f"{load_before} / {' '.join(loadavg())}"
        text = markdown(ordered, command, ref, now.strftime("%Y-%m-%d %H:%M UTC"), machine().nproc, load)
        print("\n" + text)
        print(f"raw: {write_raw([asdict(f) for f in ordered], args.out, now.strftime('%Y%m%dT%H%M%SZ'), prefix='compression-')}")
        if not args.no_write:
            (args.out / "compression.md").write_text(text)
            print(f"wrote {args.out / 'compression.md'}")
        return 0
    except (BenchError, ContainerError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        session.stop_all()


if __name__ == "__main__":
    sys.exit(main())
