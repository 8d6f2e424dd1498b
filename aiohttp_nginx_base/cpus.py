"""How many CPUs this process may really use.

`os.cpu_count()` reports the host's CPUs; a container limited to 2 CPUs on a
64-core host must not start 64 workers.  We take the smallest of the CFS
quota (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`, on
this cgroup and its ancestors) and the CPU affinity mask (which cpusets set).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Dict, Iterator, List, Optional


def _read(path: Path) -> Optional[str]:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _quota_cpus(quota: int, period: int) -> Optional[int]:
    if quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))


def _ancestors(root: Path, rel: str) -> Iterator[Path]:
    """root/rel, then each parent up to root itself."""
    parts: List[str] = [p for p in rel.split("/") if p]
    for end in range(len(parts), -1, -1):
        yield root.joinpath(*parts[:end])


def _cgroup_paths(proc_self_cgroup: Path) -> Dict[str, str]:
    """Controller -> path relative to its hierarchy, from /proc/self/cgroup."""
    paths: Dict[str, str] = {}
    for line in (_read(proc_self_cgroup) or "").splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, rel = fields
        for controller in controllers.split(",") if controllers else ["unified"]:
            paths[controller] = rel
    return paths


def quota_cpus(sys_fs_cgroup: Path = Path("/sys/fs/cgroup"), proc_self_cgroup: Path = Path("/proc/self/cgroup")) -> Optional[int]:
    """The tightest CFS quota in whole CPUs (rounded up), or None when unlimited."""
    paths = _cgroup_paths(proc_self_cgroup)
    found: List[int] = []
    # cgroup v2: one hierarchy, cpu.max = "<quota|max> <period>"
    for directory in _ancestors(sys_fs_cgroup, paths.get("unified", "/")):
        text = _read(directory / "cpu.max")
        if text:
            quota, _, period = text.partition(" ")
            if quota != "max":
                cpus = _quota_cpus(int(quota), int(period or 100000))
                if cpus:
                    found.append(cpus)
    # cgroup v1: the cpu controller, mounted as cpu or cpu,cpuacct
    for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        base = sys_fs_cgroup / mount
        if not base.is_dir():
            continue
        # inside a container the mount shows the container's own group at its root
        for directory in _ancestors(base, paths.get("cpu", "/")):
            if not directory.is_dir():
                continue
            quota_text = _read(directory / "cpu.cfs_quota_us")
            period_text = _read(directory / "cpu.cfs_period_us")
            if quota_text and period_text:
                cpus = _quota_cpus(int(quota_text), int(period_text))
                if cpus:
                    found.append(cpus)
        break
    return min(found) if found else None


def affinity_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS has no sched_getaffinity
        return os.cpu_count() or 1


def usable_cpus() -> int:
    quota = quota_cpus()
    affinity = affinity_cpus()
    return min(affinity, quota) if quota else affinity
