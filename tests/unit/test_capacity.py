"""Capacity from the container's limits (issue 13): pure derivation, and reading the limits."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiohttp_nginx_base import capacity, limits
from aiohttp_nginx_base.capacity import MIB, derive

GIB = 1024 * MIB


def test_the_limits_here_give_room_for_10000_websockets_with_two_nginx_workers() -> None:
    # this machine: 20,000 open files, 2 CPUs, no memory limit, somaxconn 4096
    c = derive(open_files=20000, nginx_workers=2, memory_limit=None, somaxconn=4096)
    assert c.nginx_worker_connections == 20000 - capacity.NGINX_RESERVED_FILES
    assert c.nginx_worker_open_files == 20000
    assert c.backlog == 4096
    # a websocket holds two of nginx's connections; an eighth stays free to answer overflow
    assert capacity.in_flight_limit(2, c.nginx_worker_connections) >= 10000


def test_a_runtime_limit_of_1048576_is_capped_so_nginx_memory_stays_bounded() -> None:
    c = derive(open_files=1048576, nginx_workers=1, memory_limit=None, somaxconn=4096)
    assert c.nginx_worker_connections == capacity.TOTAL_CONNECTIONS
    assert c.nginx_worker_open_files == capacity.TOTAL_CONNECTIONS + capacity.NGINX_RESERVED_FILES
    # more workers share the same total
    assert derive(1048576, 8, None, 4096).nginx_worker_connections == capacity.TOTAL_CONNECTIONS // 8


def test_a_memory_limit_bounds_nginx_connections() -> None:
    small = derive(open_files=1048576, nginx_workers=2, memory_limit=256 * MIB, somaxconn=4096)
    assert small.nginx_worker_connections == int(256 * MIB * capacity.MEMORY_SHARE) // capacity.NGINX_BYTES_PER_CONNECTION // 2
    assert small.nginx_worker_connections * 2 * capacity.NGINX_BYTES_PER_CONNECTION <= 256 * MIB * capacity.MEMORY_SHARE


@pytest.mark.parametrize(
    ("open_files", "cpus", "memory", "expected"),
    [
        (1048576, 8, None, 1),  # Docker's usual limit: one worker holds the whole target
        (20000, 2, None, 2),  # this machine: four would be needed, two CPUs cap it
        (20000, 16, None, 4),
        (1024, 2, None, 2),
        (20000, 8, 256 * MIB, 1),  # a memory limit lowers the target to what one worker holds
    ],
)
def test_auto_nginx_workers_are_the_fewest_that_hold_the_connection_target(
    open_files: int, cpus: int, memory: Optional[int], expected: int
) -> None:
    assert capacity.nginx_workers(open_files, cpus, memory) == expected


@given(st.integers(1, 2**21), st.integers(1, 256), st.one_of(st.none(), st.integers(1, 2**40)))
def test_auto_nginx_workers_hold_the_target_or_use_every_cpu(open_files: int, cpus: int, memory: Optional[int]) -> None:
    workers = capacity.nginx_workers(open_files, cpus, memory)
    assert 1 <= workers <= cpus
    held = workers * derive(open_files, workers, memory, 4096).nginx_worker_connections
    assert workers == cpus or held >= capacity.connection_target(memory) or held >= workers * capacity.MIN_CONNECTIONS


def test_tiny_limits_keep_a_floor() -> None:
    c = derive(open_files=256, nginx_workers=4, memory_limit=16 * MIB, somaxconn=128)
    assert c.nginx_worker_connections == capacity.MIN_CONNECTIONS
    assert c.nginx_worker_open_files == 256  # never above the hard limit
    assert c.backlog == 128


def test_the_in_flight_limit_leaves_an_eighth_of_the_connections_to_answer_overflow() -> None:
    assert capacity.in_flight_limit(1, 136) == 28  # 72 slots reserved, 56 of the other 64 in pairs, 8 to answer 503s
    assert capacity.in_flight_limit(2, 136) == 56
    assert capacity.in_flight_limit(1, 16) == 1
    assert capacity.in_flight_limit(1024, 1048576) == 65535  # what limit_conn takes


@pytest.mark.parametrize("somaxconn, expected", [(4096, 4096), (128, 128), (0, 2048), (1 << 20, 65535)])
def test_backlog_is_what_somaxconn_grants(somaxconn: int, expected: int) -> None:
    assert capacity.backlog(somaxconn) == expected


@given(
    open_files=st.integers(1, 1 << 22),
    workers=st.integers(1, 1024),
    memory=st.one_of(st.none(), st.integers(1, 1 << 40)),
    somaxconn=st.integers(0, 1 << 20),
)
def test_derived_values_are_always_valid_for_nginx_and_bounded(
    open_files: int, workers: int, memory: Optional[int], somaxconn: int
) -> None:
    c = derive(open_files, workers, memory, somaxconn)
    assert capacity.MIN_CONNECTIONS <= c.nginx_worker_connections <= max(capacity.MIN_CONNECTIONS, capacity.TOTAL_CONNECTIONS)
    assert 1 <= c.nginx_worker_open_files <= open_files
    assert 1 <= c.backlog <= 65535
    # nginx's preallocated slots stay bounded whatever the limits (about 424 bytes each)
    assert c.nginx_worker_connections * workers <= max(capacity.TOTAL_CONNECTIONS, capacity.MIN_CONNECTIONS * workers)


@pytest.mark.parametrize(
    "memory, expected",
    [(None, None), (128 * MIB, 1), (512 * MIB, (512 - 96) // 64), (GIB, (1024 - 96) // 64)],
)
def test_workers_by_memory(memory: Optional[int], expected: Optional[int]) -> None:
    assert capacity.workers_by_memory(memory) == expected


# --- reading the limits


def cgroup(tmp_path: Path, proc_self_cgroup: str, files: Dict[str, str]) -> Optional[int]:
    root = tmp_path / "sys-fs-cgroup"
    root.mkdir()
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(proc_self_cgroup + "\n")
    return limits.memory_limit(root, proc)


@pytest.mark.parametrize(
    "proc, files, expected",
    [
        ("0::/", {"memory.max": "536870912"}, 536870912),
        ("0::/", {"memory.max": "max"}, None),
        ("0::/", {}, None),
        # Kubernetes: the pod's limit on a parent group is tighter than the container's
        ("0::/kubepods/pod1/c1", {"kubepods/pod1/c1/memory.max": "max", "kubepods/pod1/memory.max": "268435456"}, 268435456),
        # cgroup v1 as Docker shows it: the container's group at the mount's root
        ("4:memory:/docker/abc\n0::/docker/abc", {"memory/memory.limit_in_bytes": "536870912"}, 536870912),
        ("4:memory:/docker/abc", {"memory/memory.limit_in_bytes": "9223372036854771712"}, None),
    ],
)
def test_memory_limit_from_cgroups(tmp_path: Path, proc: str, files: Dict[str, str], expected: Optional[int]) -> None:
    assert cgroup(tmp_path, proc, files) == expected


def test_somaxconn(tmp_path: Path) -> None:
    (tmp_path / "somaxconn").write_text("4096\n")
    assert limits.somaxconn(tmp_path / "somaxconn") == 4096
    assert limits.somaxconn(tmp_path / "missing") == 0


def test_open_files_is_the_hard_limit() -> None:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert limits.open_files() == (limits.UNLIMITED_FILES if hard == resource.RLIM_INFINITY else min(hard, limits.UNLIMITED_FILES))
