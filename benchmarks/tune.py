"""Tuning experiments for the stack, measured the way the benchmark (benchmarks/run.sh) measures.

Each experiment loads a few variants of the stack (environment variables, or a
patched copy of the generated nginx config mounted as /app/nginx.conf, which the
image uses instead of its own) next to gunicorn alone, alternated round by round.
Nothing of the runtime is changed: a variant that wins is a recommendation.

    benchmarks/run.sh --help                                          the benchmark itself
    .venv/bin/python -m benchmarks.tune --list                        the experiments
    .venv/bin/python -m benchmarks.tune accesslog nginx_workers --rounds 3 --duration 5

Raw results go to benchmarks/results/raw/tune-*.json (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from pytest_aiohttp_nginx.docker import ContainerError

from benchmarks.cli import RESULTS, add_load_options
from benchmarks.containers import Target, cleanup_leftovers, default_image, docker, gunicorn_target, image_id, stack_target, start, stop
from benchmarks.load import LoadOptions, write_script
from benchmarks.measure import load_rounds, summarize
from benchmarks.process import BenchError
from benchmarks.report import write_raw
from benchmarks.results import Summary

Variants = List[Target]


class Ctx:
    """What an experiment builds its variants from: the image, the worker count, a directory for patched configs."""

    def __init__(self, image: str, workers: int, work: Path) -> None:
        self.image, self.workers, self.work = image, workers, work
        self._n = 0

    def stack(self, key: str, title: str, env: Optional[Dict[str, str]] = None, workers: Optional[int] = None) -> Target:
        return stack_target(self.image, workers or self.workers, env, key=key, title=title)

    def gunicorn(
        self, key: str = "gunicorn", worker_class: str = "aiohttp.GunicornUVLoopWebWorker", workers: Optional[int] = None
    ) -> Target:
        return gunicorn_target(self.image, workers or self.workers, worker_class, key=key, title=f"gunicorn alone {worker_class}")

    def patched(self, key: str, title: str, patch: Callable[[str], str], env: Optional[Dict[str, str]] = None) -> Target:
        """The stack with its generated nginx.conf, patched, mounted as /app/nginx.conf."""
        target = self.stack(key, title, env)
        args = ["run", "--rm", "--network", "none", "--entrypoint", "sh"]
        for k, v in target.env.items():
            args += ["-e", f"{k}={v}"]
        conf = docker(*args, target.image, "-c", "aiohttp-nginx render --out /tmp/c >/dev/null && cat /tmp/c/nginx.conf", timeout=60)
        patched = patch(conf + "\n")
        if patched == conf + "\n":
            raise BenchError(f"{key}: the patch changed nothing")
        self._n += 1
        path = self.work / f"nginx-{self._n}-{key}.conf"
        path.write_text(patched)
        target.mounts.append((str(path), "/app/nginx.conf"))
        return target


def replace(old: str, new: str) -> Callable[[str], str]:
    def patch(text: str) -> str:
        if old not in text:
            raise BenchError(f"patch: {old!r} not in the generated config")
        return text.replace(old, new)

    return patch


OFF = {"ACCESS_LOG": "off"}


def accesslog(c: Ctx) -> Variants:
    return [
        c.stack("default", "stack defaults (access log buffered, straight to PID 1's output)"),
        c.stack("off", "ACCESS_LOG=off", OFF),
        # a patched config comes from `aiohttp-nginx render`, whose `-` log goes through supervisord
        c.patched("relayed", "unbuffered, through supervisord (the first design)", replace("main buffer=4k flush=1s", "main")),
        c.stack("file", "ACCESS_LOG=/tmp/access.log (container fs)", {"ACCESS_LOG": "/tmp/access.log"}),
        c.gunicorn(),
    ]


def nginx_workers(c: Ctx) -> Variants:
    return [
        c.stack("nw1", "ACCESS_LOG=off, NGINX_WORKER_PROCESSES=1", OFF),
        c.stack("nw2", "ACCESS_LOG=off, NGINX_WORKER_PROCESSES=2", {**OFF, "NGINX_WORKER_PROCESSES": "2"}),
        c.stack("nw1-w3", "ACCESS_LOG=off, nginx 1, WEB_CONCURRENCY=3", OFF, workers=3),
        c.stack("nw1-w1", "ACCESS_LOG=off, nginx 1, WEB_CONCURRENCY=1", OFF, workers=1),
        c.gunicorn(),
    ]


def upstream(c: Ctx) -> Variants:
    ka = "        keepalive 64;\n"
    return [
        c.stack("ka64", "ACCESS_LOG=off (keepalive 64)", OFF),
        c.patched("ka8", "keepalive 8", replace(ka, "        keepalive 8;\n"), OFF),
        c.patched("ka256", "keepalive 256", replace(ka, "        keepalive 256;\n"), OFF),
        c.patched("ka0", "no upstream keepalive", replace(ka, ""), OFF),
        c.gunicorn(),
    ]


def proxy(c: Ctx) -> Variants:
    loc = "        proxy_redirect off;\n"
    return [
        c.stack("base", "ACCESS_LOG=off", OFF),
        c.patched("nobuf", "proxy_buffering off", replace(loc, loc + "        proxy_buffering off;\n"), OFF),
        c.patched(
            "nodelay",
            "tcp_nodelay off, tcp_nopush off",
            replace("    tcp_nopush on;\n", "    tcp_nopush off;\n    tcp_nodelay off;\n"),
            OFF,
        ),
        c.patched(
            "fewhdr",
            "only X-Real-IP/X-Forwarded-Proto + Connection set",
            lambda t: (
                "\n".join(
                    line
                    for line in t.splitlines()
                    if not any(
                        h in line for h in ("proxy_set_header Upgrade", "X-Forwarded-For", "X-Forwarded-Host", "proxy_set_header Host")
                    )
                )
                + "\n"
            ),
            OFF,
        ),
        c.gunicorn(),
    ]


def worker_class(c: Ctx) -> Variants:
    return [
        c.stack("ours", "ACCESS_LOG=off, WORKER_CLASS default (client address hook)", OFF),
        c.stack(
            "uvloop",
            "ACCESS_LOG=off, WORKER_CLASS=aiohttp.GunicornUVLoopWebWorker",
            {**OFF, "WORKER_CLASS": "aiohttp.GunicornUVLoopWebWorker"},
        ),
        c.gunicorn("g-ours", "aiohttp_nginx_base.worker.Worker"),
        c.gunicorn(),
    ]


def gunicorn_workers(c: Ctx) -> Variants:
    return [
        c.gunicorn("g2", workers=2),
        c.gunicorn("g3", workers=3),
        c.gunicorn("g1", workers=1),
        c.stack("s2", "ACCESS_LOG=off, 2 workers", OFF),
    ]


def edge(c: Ctx) -> Variants:
    """What the edge, hardening and scale features cost per request (issue 13), one removed at a time."""
    one = {"NGINX_WORKER_PROCESSES": "1"}
    headers = "        include /tmp/aiohttp-nginx/proxy-headers.conf;\n"
    fewer = (
        "        proxy_set_header X-Real-IP $edge_client_addr;\n"
        "        proxy_set_header X-Forwarded-Proto $edge_scheme;\n"
        "        proxy_set_header X-Aiohttp-Nginx-Proof $aiohttp_nginx_proof;\n"
    )
    return [
        c.stack("default", "stack defaults"),
        c.stack("nw1", "NGINX_WORKER_PROCESSES=1", one),
        c.patched("nw1-logall", "nginx 1, access log without the probe filter", replace(" if=$aiohttp_nginx_logged", ""), one),
        c.patched("nw1-nolimit", "nginx 1, no limit_conn", lambda t: drop_lines(t, "limit_conn stack_in_flight"), one),
        c.patched("nw1-hdrs", "nginx 1, only client address, scheme and proof headers", replace(headers, fewer), one),
        c.patched("nw1-noerr", "nginx 1, no error_page", lambda t: drop_lines(t, "error_page"), one),
        c.stack("nw1-nolog", "nginx 1, ACCESS_LOG=off", {**one, **OFF}),
        c.patched("nw2-accept", "nginx 2, no reuseport", replace(" reuseport;", ";")),
        c.gunicorn(),
    ]


def drop_lines(text: str, needle: str) -> str:
    kept = "\n".join(line for line in text.splitlines() if needle not in line) + "\n"
    if kept == text:
        raise BenchError(f"patch: {needle!r} not in the generated config")
    return kept


EXPERIMENTS: Dict[str, Callable[[Ctx], Variants]] = {
    "edge": edge,
    "accesslog": accesslog,
    "nginx_workers": nginx_workers,
    "upstream": upstream,
    "proxy": proxy,
    "worker_class": worker_class,
    "gunicorn_workers": gunicorn_workers,
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.tune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiments", nargs="*", help="experiments to run (default: all)")
    p.add_argument("--list", action="store_true")
    p.add_argument("--image")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--also", action="append", default=[], metavar="IMAGE", help="add another image's stack (its defaults) to each experiment"
    )
    add_load_options(p, LoadOptions(duration=5, warmup=2))
    args = p.parse_args(argv)
    if args.list:
        for name in EXPERIMENTS:
            print(name)
        return 0
    names = args.experiments or list(EXPERIMENTS)
    for name in names:
        if name not in EXPERIMENTS:
            p.error(f"unknown experiment {name}; --list")
    options = LoadOptions.from_args(args)
    ref = args.image or default_image()
    image = image_id(ref)
    cleanup_leftovers()
    out: Dict[str, Any] = {"image": ref, "image_id": image, "args": vars(args), "experiments": {}}
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    with tempfile.TemporaryDirectory(prefix="aiohttp-nginx-tune-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # patched configs are mounted from here into containers
        script = write_script(work)
        for name in names:
            print(f"== {name} (load {os.getloadavg()[0]:.2f})", flush=True)
            targets = EXPERIMENTS[name](Ctx(image, args.workers, work))
            targets[:0] = [stack_target(other, args.workers, key=f"also{i}", title=other) for i, other in enumerate(args.also, 1)]
            try:
                for t in targets:
                    start(t)
                rounds = load_rounds(targets, options, args.rounds, script)
            finally:
                for t in targets:
                    stop(t)
            summary = {k: summarize(v) for k, v in rounds.items()}
            print_experiment(targets, summary)
            out["experiments"][name] = {
                "summary": {k: asdict(v) for k, v in summary.items()},
                "titles": {t.key: t.title for t in targets},
                "rounds": {k: [asdict(m) for m in v] for k, v in rounds.items()},
            }
            path = write_raw(out, RESULTS, stamp, prefix="tune-")
    print(f"raw: {path}")
    return 0


def print_experiment(targets: Variants, summary: Dict[str, Summary]) -> None:
    """Each variant against gunicorn alone (the `gunicorn` or `g2` variant)."""
    ref_key = next((k for k in ("gunicorn", "g2") if k in summary), None)
    nan = float("nan")
    print(f"   {'variant':<10} {'req/s':>8} {'p50':>7} {'p99':>7} {'vs gun':>7} {'p99 vs':>7} {'cpu/1k':>7}  rounds   title")
    for t in targets:
        s = summary[t.key]
        vs = s.rps / summary[ref_key].rps if ref_key else nan
        p99 = s.p99_ms / summary[ref_key].p99_ms if ref_key else nan
        cpu = s.cpu_ms_per_1k if s.cpu_ms_per_1k is not None else nan
        print(
            f"   {t.key:<10} {s.rps:>8.0f} {s.p50_ms:>7.2f} {s.p99_ms:>7.2f} {vs:>7.3f} {p99:>7.2f} {cpu:>7.1f}  {s.rps_all}  {t.title}  "
            f"errs={s.non2xx}/{s.socket_errors} other={s.other_load or 0:.0%}",
            flush=True,
        )


def run(argv: Optional[Sequence[str]] = None) -> int:
    """main, with the benchmark's errors as one line (exit 1), as benchmarks/run.sh does."""
    try:
        return main(argv)
    except (BenchError, ContainerError) as exc:
        print(f"tuning failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(run())
