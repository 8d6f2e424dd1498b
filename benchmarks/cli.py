"""Benchmark the aiohttp-nginx image like for like: the stack against gunicorn alone, each with and without an
access log, against the same workers behind a minimal nginx, and against nginx alone.

One run on this machine, all configurations serving the same hello app with the
same number of gunicorn workers:

  stack         the image as users run it (defaults, so nginx's access log on; WEB_CONCURRENCY; LISTEN_PORT)
  gunicorn-log  gunicorn alone in the image (GunicornUVLoopWebWorker on TCP), an access log line per request to stdout
  stack-nolog   the stack with ACCESS_LOG=off
  gunicorn      gunicorn alone, no access log
  bare          the stack's image and runtime with a minimal /app/nginx.conf: one worker, upstream keep-alive,
                no log, only the headers proxying needs (the floor of an nginx hop on the day)
  nginx         nginx alone answering `return 200`, with as many workers as the stack's nginx runs (the ceiling)
  seed          the seed's configuration (benchmarks/seed/Dockerfile, same base image; only with --only)

and the many-connections rows: stack and gunicorn-log again at --wide-connections.

Load is `wrk -t2 -c64 -d<secs>s --latency` against 127.0.0.1 (containers use host
networking), configurations alternated round by round with a warm-up before each
measurement; medians over the rounds are reported, ratios against the baselines of
the same run. Each measurement records the CPU time of every process of the
configuration (nginx, gunicorn workers and master, PID 1) from /proc, the
container's cgroup, dockerd and the container's containerd-shim (the log path), and
what the rest of the machine used meanwhile (`other load`). For the stack image it
also measures the time from `docker run` to the first 200, idle memory and image size.

Writes benchmarks/results/NAME.md (latest.md by default: the README's section),
NAME.json (the whole run), NAME.png and raw JSON in benchmarks/results/raw/. Run it as
benchmarks/run.sh (or python -m benchmarks from the repository); the image is --image,
else $IMAGE:python3.13 (IMAGE defaults to aiohttp-nginx). A quick check:
benchmarks/run.sh --rounds 1 --duration 2 --warmup 1 --starts 1 --no-write.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import resource
import shlex
import signal
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

from pytest_aiohttp_nginx.docker import ContainerError

from benchmarks.containers import (
    DEFAULT,
    HERE,
    LABEL,
    ORDER,
    TITLES,
    WIDE,
    Session,
    Target,
    bare_target,
    base_image_of,
    build_seed,
    cleanup_leftovers,
    default_image,
    docker,
    gunicorn_target,
    image_id,
    image_size,
    nginx_target,
    seed_target,
    stack_target,
    start,
    versions_in,
    wide_target,
)
from benchmarks.load import LoadOptions, check_wrk, write_script
from benchmarks.measure import load_rounds, loadavg, machine, nginx_workers_in, startup_and_memory, summarize
from benchmarks.process import BenchError
from benchmarks.report import print_report, write_latest, write_raw
from benchmarks.results import Report

RESULTS = HERE / "results"
LOG_OFF = {"ACCESS_LOG": "off"}


# The load flags (shared with benchmarks.tune): flag, type, help; the default is LoadOptions' field of that name.
LOAD_FLAGS = (
    ("--duration", float, "seconds of load per measurement"),
    ("--warmup", float, "seconds of load before each measurement, not recorded"),
    ("--threads", int, "wrk threads"),
    ("--connections", int, "wrk connections"),
    ("--max-other", float, "repeat a measurement when other processes used more than this share of the CPUs"),
    ("--retries", int, "repeats of a disturbed measurement"),
    ("--quiet-wait", float, "seconds to wait at most for an idle machine before each measurement"),
    ("--retry-budget", float, "seconds the whole run may spend repeating disturbed measurements"),
)
# the benchmark's load: rounds of a few seconds, so that a whole run stays within about 5 minutes
RUN_LOAD = LoadOptions(duration=5, warmup=2, retries=1, quiet_wait=3, retry_budget=45)


def add_load_options(p: argparse.ArgumentParser, defaults: LoadOptions) -> None:
    for flag, kind, text in LOAD_FLAGS:
        default = getattr(defaults, flag[2:].replace("-", "_"))
        p.add_argument(flag, type=kind, default=default, help=f"{text} (default {default:g})")


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/run.sh", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", help="image under test (default $IMAGE:python3.13, else :python3.11; IMAGE defaults to aiohttp-nginx)")
    p.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "2")),
        help="gunicorn workers everywhere (default $WEB_CONCURRENCY or 2)",
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds; each runs every configuration once (default 3)")
    add_load_options(p, RUN_LOAD)
    p.add_argument(
        "--wide-connections",
        type=int,
        default=1000,
        help="wrk connections of the extra stack and gunicorn-log rows (default 1000; 0: no such rows)",
    )
    p.add_argument("--starts", type=int, default=5, help="fresh stack containers timed to the first 200 (default 5)")
    p.add_argument(
        "--only",
        default=",".join(DEFAULT),
        help=f"configurations to load, comma-separated, of {','.join(ORDER)} (default {','.join(DEFAULT)})",
    )
    p.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="IMAGE",
        help="add another image's stack, with and without its access log, as rows of the same run (repeatable; before/after)",
    )
    p.add_argument("--name", default="latest", help="results/NAME.md, .json, .png (default latest: the README's section)")
    p.add_argument(
        "--stack-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the stack (repeatable; for experiments)",
    )
    p.add_argument("--nginx-workers", default=None, help="worker_processes of nginx alone (default: as many as the stack's nginx runs)")
    p.add_argument("--no-extras", action="store_true", help="skip start-up time, idle memory and image size")
    p.add_argument("--no-write", action="store_true", help="write only the raw JSON, leave latest.md/png alone")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory (default benchmarks/results)")
    args = p.parse_args(argv)
    args.only = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = set(args.only) - set(ORDER)
    if unknown:
        p.error(f"--only: unknown configuration(s) {', '.join(sorted(unknown))}; choose from {', '.join(ORDER)}")
    for item in args.stack_env:
        if "=" not in item:
            p.error(f"--stack-env wants KEY=VALUE, not {item!r}")
    if args.workers < 1 or args.rounds < 1 or args.duration <= 0 or args.starts < 1 or args.wide_connections < 0:
        p.error("--workers, --rounds, --starts must be >= 1, --duration > 0 and --wide-connections >= 0")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", args.name):
        p.error(f"--name: letters, digits, '.', '_' and '-' only, not {args.name!r}")
    return args


def nginx_count(by_key: Dict[str, Target], stack_env: Dict[str, str]) -> str:
    """nginx alone's worker_processes: as many as the running stack's nginx has, else the stack's setting, else 1."""
    stack = by_key.get("stack") or by_key.get("stack-nolog")
    count = nginx_workers_in(stack.container) if stack and stack.container else 0
    return str(count) if count else stack_env.get("NGINX_WORKER_PROCESSES", "1")


def check_tools() -> None:
    check_wrk()
    docker("version", "-f", "{{.Server.Version}}", timeout=30)


def raise_on_term(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def raise_open_files() -> None:
    """wrk inherits this process's open-file limit: --connections 1000 needs more than a 1024 soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    raise_open_files()
    options = LoadOptions.from_args(args)
    signal.signal(signal.SIGTERM, raise_on_term)
    given = list(argv if argv is not None else sys.argv[1:])
    command = "benchmarks/run.sh" + (" " + shlex.join(given) if given else "")
    session = Session()
    try:
        check_tools()
        cleanup_leftovers()
        ref = args.image or default_image()
        image = image_id(ref)  # the id: a concurrent rebuild of the tag cannot change what is measured
        tag = ref.split(":", 1)[1] if ":" in ref else "latest"
        info = machine()
        versions = versions_in(image)
        base = base_image_of(image)
        print(f"image {ref} ({image[7:19]}), base {base}; {versions}; {info.nproc} CPUs, load {' '.join(info.loadavg_before)}", flush=True)
        stack_env = dict(item.split("=", 1) for item in args.stack_env)

        extras = None
        if not args.no_extras:
            print(f"stack: {args.starts} starts to the first 200, idle memory ...", flush=True)
            extras = startup_and_memory(image, args.workers, args.starts)
            extras.base, extras.image_bytes, extras.base_bytes = base, image_size(image), image_size(base)

        seed_image = None
        if "seed" in args.only:
            print(f"seed: building benchmarks/seed/Dockerfile FROM {base} ...", flush=True)
            seed_image = build_seed(base, versions, f"{LABEL}-seed:{tag}")

        with tempfile.TemporaryDirectory(prefix="aiohttp-nginx-bench-") as tmp:
            work = Path(tmp)
            os.chmod(work, 0o755)  # the nginx-alone config is mounted from here into a container
            script = write_script(work)
            makers: Dict[str, Callable[[], Target]] = {
                "stack": lambda: stack_target(image, args.workers, stack_env),
                "gunicorn-log": lambda: gunicorn_target(image, args.workers, "aiohttp.GunicornUVLoopWebWorker", "gunicorn-log", "", True),
                "stack-nolog": lambda: stack_target(image, args.workers, {**stack_env, **LOG_OFF}, "stack-nolog", TITLES["stack-nolog"]),
                "gunicorn": lambda: gunicorn_target(image, args.workers),
                "bare": lambda: bare_target(image, args.workers, work),
                "seed": lambda: seed_target(seed_image or "", args.workers),
            }
            by_key: Dict[str, Target] = {}
            for key in ORDER:  # nginx alone last: it takes the stack's nginx worker count
                if key in args.only and key != "nginx":
                    by_key[key] = makers[key]()
                    session.targets.append(by_key[key])
                    took = start(by_key[key])
                    print(f"{key}: up on 127.0.0.1:{by_key[key].port} in {took:.2f} s", flush=True)
            nginx_workers = args.nginx_workers or nginx_count(by_key, stack_env)
            if "nginx" in args.only:
                by_key["nginx"] = nginx_target(image, work, nginx_workers)
                session.targets.append(by_key["nginx"])
                print(f"nginx: up on 127.0.0.1:{by_key['nginx'].port} in {start(by_key['nginx']):.2f} s", flush=True)
            rows = [by_key[k] for k in ORDER if k in by_key]
            for number, other in enumerate(args.also, 1):
                other_id = image_id(other)
                for key, env, what in (
                    (f"also{number}", stack_env, "defaults"),
                    (f"also{number}-nolog", {**stack_env, **LOG_OFF}, "`ACCESS_LOG=off`"),
                ):
                    target = stack_target(other_id, args.workers, env, key, f"stack of `{other}`, {what}")
                    session.targets.append(target)
                    print(f"{key} ({other}): up on 127.0.0.1:{target.port} in {start(target):.2f} s", flush=True)
                    rows.append(target)
            if args.wide_connections:
                rows += [wide_target(by_key[k], args.wide_connections) for k in WIDE if k in by_key]
            print(f"load: {args.rounds} rounds x {len(rows)} rows x ({args.warmup:g} s warm-up + {args.duration:g} s)", flush=True)
            rounds = load_rounds(rows, options, args.rounds, script)
            session.stop_all()

        now = dt.datetime.now(dt.timezone.utc)
        info.loadavg_after = loadavg()
        report = Report(
            date=now.strftime("%Y-%m-%d %H:%M UTC"),
            command=command,
            image=ref,
            image_id=image,
            versions=versions,
            machine=info,
            workers=args.workers,
            rounds_count=args.rounds,
            threads=options.threads,
            connections=options.connections,
            duration=options.duration,
            warmup=options.warmup,
            args={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            summary={k: summarize(v) for k, v in rounds.items()},
            rounds=rounds,
            targets=[{k: v for k, v in asdict(t).items() if k != "container"} for t in rows],
            seed_image_id=seed_image,
            stack_extras=extras,
            titles={t.key: t.title for t in rows},
            nginx_alone_workers=nginx_workers,
        )
        print_report(report)
        print(f"\nraw: {write_raw(report.to_json(), args.out, now.strftime('%Y%m%dT%H%M%SZ'))}")
        if not args.no_write:
            if not set(DEFAULT) <= set(args.only) or extras is None:
                print(f"{args.name}.md/json/png not written: a partial run (--only/--no-extras); raw JSON only", file=sys.stderr)
            else:
                for path in write_latest(report, args.out, args.name):
                    print(f"wrote {path}")
        return 0
    except (BenchError, ContainerError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        session.stop_all()
