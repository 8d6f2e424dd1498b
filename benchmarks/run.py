#!/usr/bin/env python3
"""Benchmark the aiohttp-nginx image against the seed, gunicorn alone and nginx alone.

One run on this machine, all configurations serving the same hello app with the
same number of gunicorn workers:

  stack     the image as users run it (defaults; WEB_CONCURRENCY; LISTEN_PORT)
  seed      the seed's configuration (benchmarks/seed/Dockerfile, same base image)
  gunicorn  gunicorn alone in the image: GunicornUVLoopWebWorker on TCP, no nginx
  nginx     nginx alone in the image answering `return 200` (the ceiling)

Load is `wrk -t2 -c64 -d<secs>s --latency` against 127.0.0.1 (containers use host
networking), configurations alternated round by round with a warm-up before each
measurement; medians over the rounds are reported. For the stack image it also
measures the time from `docker run` to the first 200, idle memory and image size.

Writes benchmarks/results/latest.md (a README section), latest.png and raw JSON in
benchmarks/results/raw/. Run it through benchmarks/run.sh; --help lists the flags.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
APP_DIR = ROOT / "docker-images" / "app"
RESULTS = HERE / "results"
BODY = b"hello from aiohttp"
LABEL = "aiohttp-nginx-bench"
ORDER = ("stack", "seed", "gunicorn", "nginx")
TITLES = {
    "stack": "stack (this image, defaults)",
    "seed": "seed (reference config)",
    "gunicorn": "gunicorn alone (uvloop worker)",
    "nginx": "nginx alone (return 200)",
}

# Targets the results are judged against (issue 7).
TARGET_VS_GUNICORN_RPS = 0.75
TARGET_VS_GUNICORN_P99 = 1.2
TARGET_VS_SEED_RPS = 4.0
TARGET_FIRST_200_S = 1.0
TARGET_IMAGE_OVER_BASE_MB = 40.0
TARGET_IDLE_MIB = 70.0

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


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------- processes


def run(cmd: Sequence[str], timeout: float, check: bool = True, input_: Optional[str] = None) -> subprocess.CompletedProcess[str]:
    """Run a command with a hard time limit; its output is captured."""
    try:
        done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, input=input_)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"timed out after {timeout:.0f} s: {shlex.join(cmd)}") from exc
    if check and done.returncode != 0:
        raise BenchError(f"exit {done.returncode}: {shlex.join(cmd)}\n{done.stderr.strip()[-2000:]}")
    return done


def docker(*args: str, timeout: float = 60, check: bool = True) -> str:
    return run(["docker", *args], timeout=timeout, check=check).stdout.strip()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def get(port: int, timeout: float = 1.0) -> Tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


POLL_INTERVAL_S = 0.005


def wait_200(port: int, deadline_s: float, started: Optional[float] = None, container: Optional[str] = None) -> float:
    """Poll GET / until it answers 200; seconds since `started`. Raises past the deadline."""
    started = time.monotonic() if started is None else started
    last = "no answer"
    while True:
        try:
            status, body = get(port, timeout=max(0.05, deadline_s - (time.monotonic() - started)))
            if status == 200:
                if body != BODY:
                    raise BenchError(f"port {port}: unexpected body {body[:80]!r}")
                return time.monotonic() - started
            last = f"status {status}"
        except (OSError, http.client.HTTPException) as exc:
            last = type(exc).__name__
        elapsed = time.monotonic() - started
        if elapsed > deadline_s:
            logs = docker("logs", "--tail", "30", container, timeout=10, check=False) if container else ""
            raise BenchError(f"port {port}: no 200 within {deadline_s:.0f} s ({last})\n{logs}")
        # a pacing interval, not a fixed wait: a busy loop would take a core from the starting container
        time.sleep(POLL_INTERVAL_S)


# ---------------------------------------------------------------- configurations


@dataclass
class Target:
    """One configuration: a container answering GET / on 127.0.0.1:port."""

    key: str
    title: str
    image: str
    port: int
    env: Dict[str, str] = field(default_factory=dict)
    entrypoint: Optional[str] = None
    command: List[str] = field(default_factory=list)
    mounts: List[Tuple[str, str]] = field(default_factory=list)  # (host path, container path), read-only
    extra_args: List[str] = field(default_factory=list)
    container: Optional[str] = None

    def docker_run_args(self, name: str) -> List[str]:
        args = ["run", "-d", "--rm", "--network", "host", "--name", name, "--label", LABEL, *self.extra_args]
        for key, value in self.env.items():
            args += ["-e", f"{key}={value}"]
        for host, inside in self.mounts:
            args += ["-v", f"{host}:{inside}:ro"]
        if self.entrypoint is not None:
            args += ["--entrypoint", self.entrypoint]
        return [*args, self.image, *self.command]


_serial = 0


def start(target: Target, deadline_s: float = 60) -> float:
    """Start the target's container and wait for its first 200; seconds taken."""
    global _serial
    _serial += 1
    name = re.sub(r"[^a-zA-Z0-9_.-]", "_", f"{LABEL}-{target.key}-{os.getpid()}-{_serial}")
    began = time.monotonic()
    target.container = docker(*target.docker_run_args(name), timeout=60)
    return wait_200(target.port, deadline_s, started=began, container=target.container)


def stop(target: Target) -> None:
    if target.container:
        docker("rm", "-f", target.container, timeout=30, check=False)
        target.container = None


def stack_target(image: str, workers: int, env: Optional[Dict[str, str]] = None, key: str = "stack", title: str = "") -> Target:
    port = free_port()
    return Target(
        key, title or TITLES["stack"], image, port, env={"LISTEN_PORT": str(port), "WEB_CONCURRENCY": str(workers), **(env or {})}
    )


def seed_target(image: str, workers: int) -> Target:
    port = free_port()
    app_port = free_port()
    return Target(
        "seed", TITLES["seed"], image, port, env={"LISTEN_PORT": str(port), "APP_PORT": str(app_port), "WEB_CONCURRENCY": str(workers)}
    )


def gunicorn_target(
    image: str, workers: int, worker_class: str = "aiohttp.GunicornUVLoopWebWorker", key: str = "gunicorn", title: str = ""
) -> Target:
    port = free_port()
    command = ["-k", worker_class, "-w", str(workers), "-b", f"127.0.0.1:{port}", "app:app"]
    return Target(key, title or TITLES["gunicorn"], image, port, entrypoint="gunicorn", command=command, extra_args=["--workdir", "/app"])


NGINX_ALONE_CONF = """\
worker_processes {workers};
pid /tmp/nginx-bench.pid;
daemon off;
error_log stderr warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    server_tokens off;
    keepalive_timeout 75s;
    client_body_temp_path /tmp/nginx-bench-body;
    proxy_temp_path /tmp/nginx-bench-proxy;
    fastcgi_temp_path /tmp/nginx-bench-fastcgi;
    uwsgi_temp_path /tmp/nginx-bench-uwsgi;
    scgi_temp_path /tmp/nginx-bench-scgi;
    server {{
        listen 127.0.0.1:{port};
        default_type text/plain;
        location / {{
            return 200 "hello from aiohttp";
        }}
    }}
}}
"""


def nginx_target(image: str, workdir: Path, nginx_workers: str) -> Target:
    port = free_port()
    conf = workdir / "nginx-alone.conf"
    conf.write_text(NGINX_ALONE_CONF.format(port=port, workers=nginx_workers))
    return Target(
        "nginx",
        TITLES["nginx"],
        image,
        port,
        entrypoint="nginx",
        command=["-c", "/etc/nginx-bench/nginx.conf", "-e", "stderr"],
        mounts=[(str(conf), "/etc/nginx-bench/nginx.conf")],
    )


# ---------------------------------------------------------------- images


def image_id(ref: str) -> str:
    return docker("image", "inspect", "-f", "{{.Id}}", ref, timeout=30)


def image_size(ref: str) -> int:
    return int(docker("image", "inspect", "-f", "{{.Size}}", ref, timeout=30))


def base_image_of(image: str, tag: str) -> str:
    """The base an image was built FROM: its OCI label, else its Dockerfile's BASE_IMAGE default."""
    label = docker("image", "inspect", "-f", '{{index .Config.Labels "org.opencontainers.image.base.name"}}', image, timeout=30)
    if label and label != "<no value>":
        return label
    dockerfile = ROOT / "docker-images" / f"{tag}.dockerfile"
    if dockerfile.is_file():
        found = re.search(r"^ARG BASE_IMAGE=(\S+)", dockerfile.read_text(), re.M)
        if found:
            return found.group(1)
    raise BenchError(f"cannot tell the base image of {image}")


def versions_in(image: str) -> Dict[str, str]:
    code = "import importlib.metadata as m, platform; print(platform.python_version(), m.version('aiohttp'), m.version('gunicorn'))"
    out = docker("run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c", code, timeout=60).split()
    nginx = run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "nginx", image, "-v"], timeout=60).stderr.strip()
    return {"python": out[0], "aiohttp": out[1], "gunicorn": out[2], "nginx": nginx.replace("nginx version: ", "")}


def build_seed(base: str, versions: Dict[str, str], tag: str) -> str:
    """Build benchmarks/seed/Dockerfile FROM `base`, with the hello app staged next to it."""
    with tempfile.TemporaryDirectory(prefix="seed-ctx-") as ctx:
        for item in (HERE / "seed").iterdir():
            shutil.copy2(item, ctx)
        shutil.copytree(APP_DIR, Path(ctx) / "app", ignore=shutil.ignore_patterns("__pycache__"))
        run(
            [
                "docker", "build", "--quiet", "--tag", tag,
                "--build-arg", f"BASE_IMAGE={base}",
                "--build-arg", f"AIOHTTP_VERSION={versions['aiohttp']}",
                "--build-arg", f"GUNICORN_VERSION={versions['gunicorn']}",
                ctx,
            ],
            timeout=900,
        )  # fmt: skip
    return image_id(tag)


# ---------------------------------------------------------------- measurements


def cpu_ns(container: str) -> Optional[int]:
    """CPU time used so far by the container's cgroup (v1 cgroupfs or v2), if readable."""
    for path in (
        f"/sys/fs/cgroup/cpuacct/docker/{container}/cpuacct.usage",
        f"/sys/fs/cgroup/cpu,cpuacct/docker/{container}/cpuacct.usage",
        f"/sys/fs/cgroup/system.slice/docker-{container}.scope/cpu.stat",
        f"/sys/fs/cgroup/docker/{container}/cpu.stat",
    ):
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        if path.endswith("cpu.stat"):
            found = re.search(r"^usage_usec (\d+)", text, re.M)
            return int(found.group(1)) * 1000 if found else None
        return int(text.strip())
    return None


def dockerd_cpu_ns() -> Optional[int]:
    """dockerd's CPU time (it stores what containers print: the access log goes through it)."""
    try:
        pid = run(["pidof", "dockerd"], timeout=5).stdout.split()[0]
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    except (BenchError, OSError, IndexError, ValueError):
        return None


def wrk(port: int, seconds: float, threads: int, connections: int, lua: Path) -> Dict[str, Any]:
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(lua),
        f"http://127.0.0.1:{port}/",
    ]
    out = run(cmd, timeout=seconds + 30).stdout
    found = re.search(r"^WRKJSON (\{.*\})$", out, re.M)
    if not found:
        raise BenchError(f"no result from wrk:\n{out}")
    data: Dict[str, Any] = json.loads(found.group(1))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["non2xx"] = data["status"]
    data["socket_errors"] = data["connect"] + data["read"] + data["write"] + data["timeout"]
    data["text"] = out[: found.start()].rstrip()
    return data


def host_busy_ns() -> int:
    """CPU time the whole machine has spent busy (all CPUs), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def children_cpu_ns() -> int:
    """CPU time of this script's finished children (wrk)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((ru.ru_utime + ru.ru_stime) * 1e9)


def proc_cpu_ns(pid: int) -> Optional[int]:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def shim_pid(container: str) -> Optional[int]:
    """containerd-shim of a container (it copies the container's output to dockerd)."""
    try:
        pid = int(docker("inspect", "-f", "{{.State.Pid}}", container, timeout=30))
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (BenchError, OSError, ValueError, IndexError):
        return None


def wait_quiet(max_wait_s: float, busy_below: float) -> float:
    """Wait (bounded) until the machine is mostly idle between measurements; the busy fraction last seen."""
    deadline = time.monotonic() + max_wait_s
    ncpu = os.cpu_count() or 1
    while True:
        b0, t0 = host_busy_ns(), time.monotonic()
        time.sleep(0.5)  # a sampling window
        busy = (host_busy_ns() - b0) / ((time.monotonic() - t0) * 1e9 * ncpu)
        if busy < busy_below or time.monotonic() > deadline:
            return busy


def measure(target: Target, args: argparse.Namespace, lua: Path) -> Dict[str, Any]:
    """Warm up, then one recorded wrk run, with where the machine's CPU went meanwhile."""
    assert target.container
    if args.warmup > 0:
        wrk(target.port, args.warmup, args.threads, args.connections, lua)
    shim = shim_pid(target.container)
    probes: Dict[str, Callable[[], Optional[int]]] = {
        "container": lambda: cpu_ns(target.container or ""),
        "dockerd": dockerd_cpu_ns,
        "shim": lambda: proc_cpu_ns(shim) if shim else None,
        "wrk": children_cpu_ns,
        "host": host_busy_ns,
    }
    before = {k: f() for k, f in probes.items()}
    t0 = time.monotonic()
    result = wrk(target.port, args.duration, args.threads, args.connections, lua)
    wall = time.monotonic() - t0
    after = {k: f() for k, f in probes.items()}
    cpu = {k: (after[k] - b) / 1e9 for k, b in before.items() if b is not None and after[k] is not None}  # type: ignore[operator]
    for key, value in cpu.items():
        result[f"{key}_cpu_s"] = value
    if "host" in cpu:
        ours = sum(v for k, v in cpu.items() if k != "host")
        # CPU that neither the configuration, docker's log path nor wrk used: other work on the machine
        result["other_cpu_frac"] = max(0.0, cpu["host"] - ours) / (wall * (os.cpu_count() or 1))
    return result


def mib(text: str) -> float:
    """'80.83MiB' -> 80.83 (docker stats units)."""
    found = re.match(r"([\d.]+)\s*([KMGT]?i?B)", text.strip())
    if not found:
        raise BenchError(f"cannot read memory figure {text!r}")
    scale = {
        "B": 1 / 2**20,
        "KiB": 1 / 2**10,
        "MiB": 1,
        "GiB": 2**10,
        "TiB": 2**20,
        "kB": 1e3 / 2**20,
        "KB": 1e3 / 2**20,
        "MB": 1e6 / 2**20,
        "GB": 1e9 / 2**20,
    }
    return float(found.group(1)) * scale.get(found.group(2), 1)


def startup_and_memory(image: str, workers: int, starts: int) -> Dict[str, Any]:
    """Median time from `docker run` to the first 200 over `starts` fresh containers; idle memory with 2 workers."""
    times: List[float] = []
    for _ in range(starts):
        target = stack_target(image, workers)
        try:
            times.append(start(target, deadline_s=30))
        finally:
            stop(target)
    target = stack_target(image, 2)
    samples: List[float] = []
    try:
        start(target, deadline_s=30)
        # settled: three consecutive samples (each `docker stats --no-stream` takes ~1-2 s) within 1 MiB
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", target.container or "", timeout=30)
            samples.append(mib(usage.split("/")[0]))
            last = samples[-3:]
            if len(last) == 3 and max(last) - min(last) <= 1.0:
                break
    finally:
        stop(target)
    settled = samples[-3:]
    return {
        "first_200_s": times,
        "first_200_median_s": statistics.median(times),
        "idle_mib_samples": samples,
        "idle_mib": statistics.median(settled),
    }


def median_of(rounds: List[Dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in rounds if key in r)) if any(key in r for r in rounds) else float("nan")


def summarize(rounds: List[Dict[str, Any]]) -> Dict[str, Any]:
    out = {
        "rps": median_of(rounds, "rps"),
        "p50_ms": median_of(rounds, "p50_us") / 1000,
        "p99_ms": median_of(rounds, "p99_us") / 1000,
        "non2xx": sum(r["non2xx"] for r in rounds),
        "socket_errors": sum(r["socket_errors"] for r in rounds),
        "rps_all": [round(r["rps"]) for r in rounds],
    }
    if all("container_cpu_s" in r for r in rounds):
        # CPU (container + dockerd) per 1000 requests: where the time goes
        out["cpu_ms_per_1k"] = statistics.median(
            (r["container_cpu_s"] + r.get("dockerd_cpu_s", 0.0) + r.get("shim_cpu_s", 0.0)) / r["requests"] * 1e6 for r in rounds
        )
        out["log_path_ms_per_1k"] = statistics.median(
            (r.get("dockerd_cpu_s", 0.0) + r.get("shim_cpu_s", 0.0)) / r["requests"] * 1e6 for r in rounds
        )
        out["other_load"] = statistics.median(r.get("other_cpu_frac", 0.0) for r in rounds)
    return out


def load_rounds(targets: List[Target], args: argparse.Namespace, lua: Path) -> Dict[str, List[Dict[str, Any]]]:
    """Alternate the configurations round by round: A B C D, A B C D, ...

    The machine may be shared: a measurement during which other processes took more
    than --max-other of the CPUs is repeated (up to --retries times, after waiting
    for a quiet moment); the least disturbed attempt is kept.
    """
    results: Dict[str, List[Dict[str, Any]]] = {t.key: [] for t in targets}
    for number in range(1, args.rounds + 1):
        for target in targets:
            attempts: List[Dict[str, Any]] = []
            for _ in range(args.retries + 1):
                wait_quiet(args.quiet_wait, 0.15)
                attempts.append(measure(target, args, lua))
                if attempts[-1].get("other_cpu_frac", 0.0) <= args.max_other:
                    break
            result = min(attempts, key=lambda r: float(r.get("other_cpu_frac", 0.0)))
            result["attempts"] = len(attempts)
            results[target.key].append(result)
            print(
                f"  round {number}/{args.rounds} {target.key:<10} {result['rps']:>9.0f} req/s  p50 {result['p50_us'] / 1000:6.2f} ms  "
                f"p99 {result['p99_us'] / 1000:6.2f} ms  non-2xx {result['non2xx']}  errors {result['socket_errors']}  "
                f"other load {result.get('other_cpu_frac', float('nan')):.0%} ({len(attempts)} attempt(s))",
                flush=True,
            )
    return results


# ---------------------------------------------------------------- machine


def machine() -> Dict[str, Any]:
    cpu = "unknown"
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    wrk_version = run(["wrk", "-v"], timeout=10, check=False).stdout.splitlines()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "docker": docker("version", "-f", "{{.Server.Version}}", timeout=30, check=False),
        "wrk": wrk_version[0].split(" Copyright")[0] if wrk_version else "wrk",
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
    }


# ---------------------------------------------------------------- report


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def ratios(report: Dict[str, Any]) -> List[Tuple[str, float, str, bool]]:
    s = report["summary"]
    rows: List[Tuple[str, float, str, bool]] = []
    if "stack" in s and "gunicorn" in s:
        r = ratio(s["stack"]["rps"], s["gunicorn"]["rps"])
        rows.append(("stack / gunicorn alone, req/s", r, f">= {TARGET_VS_GUNICORN_RPS}", r >= TARGET_VS_GUNICORN_RPS))
        r = ratio(s["stack"]["p99_ms"], s["gunicorn"]["p99_ms"])
        rows.append(("stack / gunicorn alone, p99", r, f"<= {TARGET_VS_GUNICORN_P99}", r <= TARGET_VS_GUNICORN_P99))
    if "stack" in s and "seed" in s:
        r = ratio(s["stack"]["rps"], s["seed"]["rps"])
        rows.append(("stack / seed, req/s", r, f">= {TARGET_VS_SEED_RPS}", r >= TARGET_VS_SEED_RPS))
    if "stack" in s and "nginx" in s:
        r = ratio(s["stack"]["rps"], s["nginx"]["rps"])
        rows.append(("stack / nginx alone, req/s", r, "(the ceiling)", True))
    return rows


def render_markdown(report: Dict[str, Any]) -> str:
    m, a, s = report["machine"], report["args"], report["summary"]
    lines = [
        f"Measured {report['date']} on {m['nproc']} CPUs ({m['cpu']}), Docker {m['docker']}, {m['wrk']}; "
        f"image `{report['image']}` (Python {report['versions']['python']}, aiohttp {report['versions']['aiohttp']}, "
        f"gunicorn {report['versions']['gunicorn']}, {report['versions']['nginx']}), {a['workers']} gunicorn workers everywhere.",
        "",
        f"Load: `wrk -t{a['threads']} -c{a['connections']} -d{a['duration']:g}s --latency` on 127.0.0.1 (host networking), "
        f"the configurations alternated round by round, {a['rounds']} rounds after a {a['warmup']:g} s warm-up each; medians. "
        f"Load average before the run: {' '.join(m['loadavg_before'])}.",
        "",
        "| Configuration | req/s | p50 | p99 | non-2xx | socket errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key in ORDER:
        if key in s:
            r = s[key]
            lines.append(
                f"| {TITLES[key]} | {r['rps']:,.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | {r['non2xx']} | {r['socket_errors']} |"
            )
    lines += ["", "| Ratio | value | target | |", "|---|---:|---|---|"]
    for name, value, target, ok in ratios(report):
        lines.append(f"| {name} | {value:.2f} | {target} | {verdict(ok) if target[0] in '<>' else ''} |")
    st = report.get("stack_extras")
    if st:
        over = (st["image_bytes"] - st["base_bytes"]) / 1e6
        first, idle = st["first_200_median_s"], st["idle_mib"]
        base = f"base `{st['base']}` {st['base_bytes'] / 1e6:.0f} MB"
        lines += [
            "",
            "| Stack image | value | target | |",
            "|---|---:|---|---|",
            f"| `docker run` to first 200 (median of {len(st['first_200_s'])}) | {first:.2f} s "
            f"| <= {TARGET_FIRST_200_S:g} s | {verdict(first <= TARGET_FIRST_200_S)} |",
            f"| idle memory, 2 workers (`docker stats`) | {idle:.1f} MiB "
            f"| <= {TARGET_IDLE_MIB:g} MiB | {verdict(idle <= TARGET_IDLE_MIB)} |",
            f"| image size | {st['image_bytes'] / 1e6:.0f} MB | {base} + <= {TARGET_IMAGE_OVER_BASE_MB:g} MB "
            f"| +{over:.0f} MB, {verdict(over <= TARGET_IMAGE_OVER_BASE_MB)} |",
        ]
    lines += [
        "",
        "![requests per second and p99 latency per configuration](benchmarks/results/latest.png)",
        "",
        "The stack's access log is on (its default), so nginx writes one line per request to the container's output. "
        "Configurations: `benchmarks/run.py`; the seed's is in `benchmarks/seed/`.",
        f"Command: `{report['command']}`",
    ]
    return "\n".join(lines) + "\n"


def render_png(report: Dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (pip install matplotlib)", file=sys.stderr)
        return False
    s = report["summary"]
    keys = [k for k in ORDER if k in s]
    names = [TITLES[k].split(" (")[0] for k in keys]
    colors = {"stack": "#1f77b4", "seed": "#d62728", "gunicorn": "#2ca02c", "nginx": "#7f7f7f"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    bars = left.bar(names, [s[k]["rps"] for k in keys], color=[colors[k] for k in keys])
    left.bar_label(bars, labels=[f"{s[k]['rps']:,.0f}" for k in keys], fontsize=8)
    left.set_title("requests/s (higher is better)")
    bars = right.bar(names, [s[k]["p99_ms"] for k in keys], color=[colors[k] for k in keys])
    right.bar_label(bars, labels=[f"{s[k]['p99_ms']:.1f}" for k in keys], fontsize=8)
    right.set_title("p99 latency, ms (lower is better)")
    a = report["args"]
    fig.suptitle(
        f"wrk -t{a['threads']} -c{a['connections']}, {a['workers']} workers, {report['machine']['nproc']} CPUs, {report['date']}",
        fontsize=9,
    )
    for ax in (left, right):
        ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def print_report(report: Dict[str, Any]) -> None:
    s = report["summary"]
    print()
    print(f"{'configuration':<34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'errors':>7}  rounds")
    for key in ORDER:
        if key in s:
            r = s[key]
            print(
                f"{TITLES[key]:<34} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
                f"{r['non2xx']:>8} {r['socket_errors']:>7}  {r['rps_all']}"
            )
    st = report.get("stack_extras")
    if st:
        print()
        print(f"stack: first 200 after docker run {st['first_200_median_s']:.2f} s (median of {[round(t, 2) for t in st['first_200_s']]})")
        print(f"stack: idle memory with 2 workers {st['idle_mib']:.1f} MiB (samples {[round(x, 1) for x in st['idle_mib_samples']]})")
        print(
            f"stack: image {st['image_bytes'] / 1e6:.1f} MB, base {st['base']} {st['base_bytes'] / 1e6:.1f} MB "
            f"(+{(st['image_bytes'] - st['base_bytes']) / 1e6:.1f} MB)"
        )
    print()
    for name, value, target, ok in ratios(report):
        flag = "" if target[0] not in "<>" else ("  ok" if ok else "  MISSED")
        print(f"{name:<32} {value:6.2f}   target {target}{flag}")


# ---------------------------------------------------------------- main


def default_image() -> str:
    for tag in ("python3.13", "python3.11"):
        if run(["docker", "image", "inspect", f"aiohttp-nginx:{tag}"], timeout=30, check=False).returncode == 0:
            return f"aiohttp-nginx:{tag}"
    raise BenchError("no aiohttp-nginx:python3.13 or :python3.11 image: build one with scripts/build.sh python3.13")


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/run.sh", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", help="image under test (default aiohttp-nginx:python3.13, else :python3.11)")
    p.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "2")),
        help="gunicorn workers everywhere (default $WEB_CONCURRENCY or 2)",
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds; each runs every configuration once (default 3)")
    p.add_argument("--duration", type=float, default=10, help="seconds of load per measurement (default 10)")
    p.add_argument("--warmup", type=float, default=3, help="seconds of load before each measurement, not recorded (default 3)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    p.add_argument(
        "--max-other",
        type=float,
        default=0.15,
        help="repeat a measurement when other processes used more than this share of the CPUs (default 0.15)",
    )
    p.add_argument("--retries", type=int, default=2, help="repeats of a disturbed measurement (default 2)")
    p.add_argument(
        "--quiet-wait", type=float, default=20, help="seconds to wait at most for an idle machine before each measurement (default 20)"
    )
    p.add_argument("--starts", type=int, default=5, help="fresh stack containers timed to the first 200 (default 5)")
    p.add_argument("--only", default=",".join(ORDER), help=f"configurations to load, comma-separated (default {','.join(ORDER)})")
    p.add_argument(
        "--stack-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the stack (repeatable; for experiments)",
    )
    p.add_argument("--nginx-workers", default=None, help="worker_processes of nginx alone (default: the stack's NGINX_WORKER_PROCESSES, 1)")
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
    if args.workers < 1 or args.rounds < 1 or args.duration <= 0 or args.starts < 1:
        p.error("--workers, --rounds, --starts must be >= 1 and --duration > 0")
    return args


def check_tools() -> None:
    for tool in ("docker", "wrk"):
        if not shutil.which(tool):
            raise BenchError(f"{tool} is not installed")
    docker("version", "-f", "{{.Server.Version}}", timeout=30)


def cleanup_leftovers() -> None:
    """Remove containers a killed earlier run of this script left behind."""
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}", timeout=30, check=False).split()
    mine = [i for i in ids if docker("inspect", "-f", "{{.Name}}", i, timeout=30, check=False).startswith(f"/{LABEL}-")]
    if mine:
        docker("rm", "-f", *mine, timeout=60, check=False)


def raise_on_term(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@dataclass
class Session:
    targets: List[Target] = field(default_factory=list)

    def stop_all(self) -> None:
        for t in self.targets:
            stop(t)

    def __iter__(self) -> Iterator[Target]:
        return iter(self.targets)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_on_term)
    command = "benchmarks/run.sh" + (
        "" if argv is None and len(sys.argv) == 1 else " " + shlex.join(list(argv if argv is not None else sys.argv[1:]))
    )
    session = Session()
    try:
        check_tools()
        cleanup_leftovers()
        ref = args.image or default_image()
        image = image_id(ref)  # the id: a concurrent rebuild of the tag cannot change what is measured
        tag = ref.split(":", 1)[1] if ":" in ref else "latest"
        info = machine()
        versions = versions_in(image)
        base = base_image_of(image, tag)
        print(
            f"image {ref} ({image[7:19]}), base {base}; {versions}; {info['nproc']} CPUs, load {' '.join(info['loadavg_before'])}",
            flush=True,
        )
        stack_env = dict(item.split("=", 1) for item in args.stack_env)

        extras: Optional[Dict[str, Any]] = None
        if not args.no_extras:
            print(f"stack: {args.starts} starts to the first 200, idle memory ...", flush=True)
            extras = startup_and_memory(image, args.workers, args.starts)
            extras.update(base=base, image_bytes=image_size(image), base_bytes=image_size(base))

        seed_image = None
        if "seed" in args.only:
            print(f"seed: building benchmarks/seed/Dockerfile FROM {base} ...", flush=True)
            seed_image = build_seed(base, versions, f"{LABEL}-seed:{tag}")

        with tempfile.TemporaryDirectory(prefix="aiohttp-nginx-bench-") as tmp:
            work = Path(tmp)
            os.chmod(work, 0o755)
            lua = work / "report.lua"
            lua.write_text(WRK_LUA)
            makers = {
                "stack": lambda: stack_target(image, args.workers, stack_env),
                "seed": lambda: seed_target(seed_image or "", args.workers),
                "gunicorn": lambda: gunicorn_target(image, args.workers),
                "nginx": lambda: nginx_target(image, work, args.nginx_workers or stack_env.get("NGINX_WORKER_PROCESSES", "1")),
            }
            session.targets = [makers[k]() for k in ORDER if k in args.only]
            for target in session:
                took = start(target)
                print(f"{target.key}: up on 127.0.0.1:{target.port} in {took:.2f} s", flush=True)
            print(
                f"load: {args.rounds} rounds x {len(session.targets)} configurations x ({args.warmup:g} s warm-up + {args.duration:g} s)",
                flush=True,
            )
            rounds = load_rounds(session.targets, args, lua)
            session.stop_all()

        now = dt.datetime.now(dt.timezone.utc)
        info["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
        report: Dict[str, Any] = {
            "date": now.strftime("%Y-%m-%d %H:%M UTC"),
            "command": command,
            "image": ref,
            "image_id": image,
            "seed_image_id": seed_image,
            "versions": versions,
            "machine": info,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "summary": {k: summarize(v) for k, v in rounds.items()},
            "rounds": rounds,
            "targets": [{k: v for k, v in asdict(t).items() if k != "container"} for t in session.targets],
        }
        if extras:
            report["stack_extras"] = extras
        print_report(report)

        raw = args.out / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        raw_path = raw / f"{now.strftime('%Y%m%dT%H%M%SZ')}.json"
        raw_path.write_text(json.dumps(report, indent=1) + "\n")
        print(f"\nraw: {raw_path}")
        if not args.no_write:
            if set(args.only) != set(ORDER) or extras is None:
                print("latest.md/png not written: a partial run (--only/--no-extras); raw JSON only", file=sys.stderr)
            else:
                (args.out / "latest.md").write_text(render_markdown(report))
                print(f"wrote {args.out / 'latest.md'}")
                if render_png(report, args.out / "latest.png"):
                    print(f"wrote {args.out / 'latest.png'}")
        return 0
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        session.stop_all()


if __name__ == "__main__":
    sys.exit(main())
