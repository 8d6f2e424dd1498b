"""The container's limits that decide its capacity: open files, memory, listen backlog.

Read once per start (host.py); capacity.py turns them into nginx's and gunicorn's numbers.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from .cpus import _ancestors, _cgroup_paths, _read

# what nginx could be given when the limit is "unlimited"; capacity.py caps it far lower anyway
UNLIMITED_FILES = 1048576
# cgroup v1 writes "no limit" as a page-rounded 2**63 - 1
V1_UNLIMITED = 1 << 62


@dataclass(frozen=True)
class Limits:
    open_files: int  # hard RLIMIT_NOFILE
    memory: Optional[int]  # bytes; None: unlimited
    somaxconn: int  # 0: unknown


def read() -> Limits:
    return Limits(open_files=open_files(), memory=memory_limit(), somaxconn=somaxconn())


def open_files() -> int:
    """The hard RLIMIT_NOFILE: as far as nginx's worker_rlimit_nofile may raise its own limit
    (beyond it needs CAP_SYS_RESOURCE, which containers do not have by default)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return UNLIMITED_FILES if hard == resource.RLIM_INFINITY or hard > UNLIMITED_FILES else int(hard)


def memory_limit(sys_fs_cgroup: Path = Path("/sys/fs/cgroup"), proc_self_cgroup: Path = Path("/proc/self/cgroup")) -> Optional[int]:
    """The tightest cgroup memory limit in bytes (v2 memory.max or v1 memory.limit_in_bytes, on this
    cgroup and its ancestors), or None when unlimited."""
    paths = _cgroup_paths(proc_self_cgroup)
    found: List[int] = []
    for directory in _ancestors(sys_fs_cgroup, paths.get("unified", "/")):
        text = _read(directory / "memory.max")
        if text and text != "max" and text.isdigit():
            found.append(int(text))
    base = sys_fs_cgroup / "memory"
    if base.is_dir():
        # inside a container the mount shows the container's own group at its root
        for directory in _ancestors(base, paths.get("memory", "/")):
            text = _read(directory / "memory.limit_in_bytes")
            if text and text.isdigit() and int(text) < V1_UNLIMITED:
                found.append(int(text))
    return min(found) if found else None


def somaxconn(path: Path = Path("/proc/sys/net/core/somaxconn")) -> int:
    """The network namespace's cap on a listen backlog; 0 when it cannot be read."""
    text = _read(path)
    return int(text) if text and text.isdigit() else 0
