"""Measurements: one wrk run with where the CPU went, rounds of them, start-up time and idle memory, the machine."""

from __future__ import annotations

import os
import platform
import re
import resource
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from pytest_aiohttp_nginx.docker import ContainerError

from benchmarks.containers import Target, docker, stack_target, start, stop
from benchmarks.load import LoadOptions, wrk, wrk_version
from benchmarks.process import BenchError, run
from benchmarks.results import Machine, Measurement, StackExtras, Summary

# --- CPU time, from cgroups and /proc


def ticks_to_ns(ticks: int) -> int:
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


CGROUP_DIRS = (
    "/sys/fs/cgroup/cpuacct/docker/{}",
    "/sys/fs/cgroup/cpu,cpuacct/docker/{}",
    "/sys/fs/cgroup/system.slice/docker-{}.scope",
    "/sys/fs/cgroup/docker/{}",
)


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


def proc_cpu_ns(pid: int) -> Optional[int]:
    """A process's CPU time (user + system), from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return ticks_to_ns(int(fields[11]) + int(fields[12]))
    except (OSError, IndexError, ValueError):
        return None


def dockerd_cpu_ns() -> Optional[int]:
    """dockerd's CPU time (it stores what containers print: the access log goes through it)."""
    try:
        return proc_cpu_ns(int(run(["pidof", "dockerd"], timeout=5).stdout.split()[0]))
    except (BenchError, IndexError, ValueError):
        return None


def host_busy_ns() -> int:
    """CPU time the whole machine has spent busy (all CPUs), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return ticks_to_ns(user + nice + system + irq + softirq + steal)


def children_cpu_ns() -> int:
    """CPU time of this process's finished children (wrk)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((ru.ru_utime + ru.ru_stime) * 1e9)


def container_pid(container: str) -> Optional[int]:
    """The host pid of the container's PID 1."""
    try:
        return int(docker("inspect", "-f", "{{.State.Pid}}", container, timeout=30))
    except (ContainerError, ValueError):
        return None


def shim_pid(container: str) -> Optional[int]:
    """containerd-shim of a container (it copies the container's output to dockerd)."""
    try:
        pid = container_pid(container)
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) if pid else None
    except (OSError, ValueError, IndexError):
        return None


# --- CPU by process: who in the container spent it

# roles, in the order the report shows them; `log_path` is dockerd + the container's shim (outside the container),
# `container_other` what the cgroup spent beyond the processes seen at both ends of a run (one that came or went)
ROLES = ("nginx", "gunicorn_workers", "gunicorn_master", "pid1", "log_path", "container_other")
ROLE_TITLES = {
    "nginx": "nginx (master + workers)",
    "gunicorn_workers": "gunicorn workers",
    "gunicorn_master": "gunicorn master",
    "pid1": "PID 1 (supervisord)",
    "log_path": "dockerd + shim (log path)",
    "container_other": "rest of the container",
}


@dataclass(frozen=True)
class Proc:
    """One process of a container, as /proc tells it."""

    pid: int
    ppid: int
    cpu_ns: int
    cmdline: str


def parse_stat(text: str) -> Tuple[int, int]:
    """/proc/PID/stat -> (ppid, utime + stime in clock ticks); the name in parentheses may hold spaces."""
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def read_proc(pid: int) -> Optional[Proc]:
    try:
        ppid, ticks = parse_stat(Path(f"/proc/{pid}/stat").read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except (OSError, IndexError, ValueError):
        return None
    return Proc(pid, ppid, ticks_to_ns(ticks), cmdline)


def cgroup_pids(container: str) -> List[int]:
    """The processes in the container's cgroup (empty when no cgroup file is readable)."""
    for directory in CGROUP_DIRS:
        try:
            return [int(x) for x in Path(directory.format(container), "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            continue
    return []


def role_of(proc: Proc, procs: Mapping[int, Proc], pid1: Optional[int]) -> str:
    """nginx, a gunicorn master or worker (a gunicorn whose parent is one), PID 1 (supervisord), or other."""
    if proc.cmdline.startswith("nginx:") or proc.cmdline.split(" ", 1)[0].endswith("/nginx"):
        return "nginx"
    if "gunicorn" in proc.cmdline:
        parent = procs.get(proc.ppid)
        return "gunicorn_workers" if parent is not None and "gunicorn" in parent.cmdline else "gunicorn_master"
    return "pid1" if proc.pid == pid1 else "container_other"


Snapshot = Dict[int, Tuple[str, int]]  # pid -> (role, CPU ns so far)


def snapshot(container: str, pid1: Optional[int]) -> Snapshot:
    procs = {p.pid: p for p in (read_proc(pid) for pid in cgroup_pids(container)) if p is not None}
    return {pid: (role_of(p, procs, pid1), p.cpu_ns) for pid, p in procs.items()}


def role_cpu_s(before: Snapshot, after: Snapshot, container_s: Optional[float], log_path_s: Optional[float]) -> Dict[str, float]:
    """CPU seconds by role between two snapshots (processes seen in both); the cgroup's rest as container_other."""
    out: Dict[str, float] = {}
    for pid, (role, ns) in after.items():
        if pid in before:
            out[role] = out.get(role, 0.0) + max(0, ns - before[pid][1]) / 1e9
    if container_s is not None:
        out["container_other"] = out.get("container_other", 0.0) + max(0.0, container_s - sum(out.values()))
    if log_path_s is not None:
        out["log_path"] = log_path_s
    return out


def nginx_workers_in(container: str) -> int:
    """How many nginx worker processes the container runs."""
    return sum(1 for p in (read_proc(pid) for pid in cgroup_pids(container)) if p and p.cmdline.startswith("nginx: worker"))


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


# --- load


def measure(target: Target, options: LoadOptions, script: Path) -> Measurement:
    """Warm up, then one recorded wrk run, with where the machine's CPU went meanwhile."""
    assert target.container
    container = target.container
    if target.connections:
        options = replace(options, connections=target.connections)
    if options.warmup > 0:
        wrk(target.port, options.warmup, options, script)
    shim = shim_pid(container)
    pid1 = container_pid(container)
    probes: Dict[str, Callable[[], Optional[int]]] = {
        "container": lambda: cpu_ns(container),
        "dockerd": dockerd_cpu_ns,
        "shim": lambda: proc_cpu_ns(shim) if shim else None,
        "wrk": children_cpu_ns,
        "host": host_busy_ns,
    }
    procs_before = snapshot(container, pid1)
    before = {k: f() for k, f in probes.items()}
    t0 = time.monotonic()
    result = wrk(target.port, options.duration, options, script)
    wall = time.monotonic() - t0
    after = {k: f() for k, f in probes.items()}
    procs_after = snapshot(container, pid1)
    for key, b in before.items():
        a = after[key]
        if a is not None and b is not None:
            result.cpu_s[key] = (a - b) / 1e9
    log_path = result.cpu_s.get("dockerd", 0.0) + result.cpu_s.get("shim", 0.0) if "dockerd" in result.cpu_s else None
    result.cpu_by_role = role_cpu_s(procs_before, procs_after, result.cpu_s.get("container"), log_path)
    if "host" in result.cpu_s:
        ours = sum(v for k, v in result.cpu_s.items() if k != "host")
        # CPU that neither the configuration, docker's log path nor wrk used: other work on the machine
        result.other_cpu_frac = max(0.0, result.cpu_s["host"] - ours) / (wall * (os.cpu_count() or 1))
    return result


def load_rounds(targets: List[Target], options: LoadOptions, rounds: int, script: Path) -> Dict[str, List[Measurement]]:
    """Alternate the configurations round by round: A B C D, A B C D, ...

    The machine may be shared: a measurement during which other processes took more than `options.max_other` of the
    CPUs is repeated (up to `options.retries` times, after waiting for a quiet moment); the least disturbed is kept.
    """
    results: Dict[str, List[Measurement]] = {t.key: [] for t in targets}
    spare = options.retry_budget  # seconds the whole run may spend on repeats
    for number in range(1, rounds + 1):
        for target in targets:
            attempts: List[Measurement] = []
            for attempt in range(options.retries + 1):
                if attempt and spare <= 0:
                    break
                began = time.monotonic()
                wait_quiet(options.quiet_wait, 0.15)
                attempts.append(measure(target, options, script))
                if attempt:
                    spare -= time.monotonic() - began
                if (attempts[-1].other_cpu_frac or 0.0) <= options.max_other:
                    break
            result = min(attempts, key=lambda r: r.other_cpu_frac or 0.0)
            result.attempts = len(attempts)
            results[target.key].append(result)
            other = result.other_cpu_frac if result.other_cpu_frac is not None else float("nan")
            print(
                f"  round {number}/{rounds} {target.key:<10} {result.rps:>9.0f} req/s  p50 {result.p50_us / 1000:6.2f} ms  "
                f"p99 {result.p99_us / 1000:6.2f} ms  non-2xx {result.non2xx}  errors {result.socket_errors}  "
                f"other load {other:.0%} ({len(attempts)} attempt(s))",
                flush=True,
            )
    return results


def median(values: List[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def summarize(rounds: List[Measurement]) -> Summary:
    summary = Summary(
        rps=median([r.rps for r in rounds]),
        p50_ms=median([r.p50_us for r in rounds]) / 1000,
        p99_ms=median([r.p99_us for r in rounds]) / 1000,
        non2xx=sum(r.non2xx for r in rounds),
        socket_errors=sum(r.socket_errors for r in rounds),
        rps_all=[round(r.rps) for r in rounds],
    )
    if rounds and all("container" in r.cpu_s for r in rounds):
        # CPU (container + dockerd + shim) per 1000 requests: where the time goes
        log_path = [(r.cpu_s.get("dockerd", 0.0) + r.cpu_s.get("shim", 0.0)) / r.requests * 1e6 for r in rounds]
        summary.cpu_ms_per_1k = median([r.cpu_s["container"] / r.requests * 1e6 + lp for r, lp in zip(rounds, log_path)])
        summary.log_path_ms_per_1k = median(log_path)
        summary.other_load = median([r.other_cpu_frac or 0.0 for r in rounds])
    summary.other_load_all = [round(r.other_cpu_frac or 0.0, 3) for r in rounds]
    summary.cpu_ms_per_1k_by_role = per_1k_by_role(rounds)
    return summary


def per_1k_by_role(rounds: List[Measurement]) -> Dict[str, float]:
    """CPU ms per 1000 requests, role by role: the median over the rounds of each role (the medians need not add up)."""
    out: Dict[str, float] = {}
    for role in ROLES:
        values = [r.cpu_by_role[role] / r.requests * 1e6 for r in rounds if role in r.cpu_by_role and r.requests]
        if values:
            out[role] = median(values)
    return out


# --- the stack beyond throughput


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


def startup_and_memory(image: str, workers: int, starts: int) -> StackExtras:
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
    return StackExtras(first_200_s=times, first_200_median_s=median(times), idle_mib_samples=samples, idle_mib=median(samples[-3:]))


def loadavg() -> List[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def machine() -> Machine:
    cpu = "unknown"
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    return Machine(
        nproc=os.cpu_count() or 1,
        cpu=cpu,
        kernel=platform.release(),
        docker=docker("version", "-f", "{{.Server.Version}}", timeout=30, check=False),
        wrk=wrk_version(),
        loadavg_before=loadavg(),
    )
