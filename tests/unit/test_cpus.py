"""How many CPUs a container may really use: cgroup quotas (v1 and v2, nested) and the affinity mask."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Dict, Optional

import pytest

from aiohttp_nginx_base import cpus
from aiohttp_nginx_base.settings import load

FIXTURES = Path(__file__).parent / "fixtures"


def tree(tmp_path: Path, proc_self_cgroup: str, files: Dict[str, str]) -> Optional[int]:
    """quota_cpus on a fake /sys/fs/cgroup holding `files` and a fake /proc/self/cgroup."""
    root = tmp_path / "sys-fs-cgroup"
    root.mkdir()
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(proc_self_cgroup + "\n")
    return cpus.quota_cpus(root, proc)


def fixture_quota(name: str) -> Optional[int]:
    return cpus.quota_cpus(FIXTURES / name / "sys-fs-cgroup", FIXTURES / name / "proc-self-cgroup")


def affinity() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# --- cgroup v2


@pytest.mark.parametrize(
    "cpu_max, expected",
    [
        ("200000 100000", 2),
        ("150000 100000", 2),  # 1.5 CPUs: rounded up, a worker per started CPU
        ("50000 100000", 1),  # half a CPU still runs one
        ("400000 200000", 2),  # a non-default period
        ("300000", 3),  # period omitted: the kernel's default 100000
        ("max 100000", None),
        ("max", None),
    ],
)
def test_cgroup_v2_cpu_max_gives_whole_cpus_rounded_up(tmp_path: Path, cpu_max: str, expected: Optional[int]) -> None:
    assert tree(tmp_path, "0::/", {"cpu.max": cpu_max}) == expected


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    assert tree(tmp_path, "0::/", {}) is None


def test_an_empty_cpu_max_means_no_quota(tmp_path: Path) -> None:
    assert tree(tmp_path, "0::/", {"cpu.max": ""}) is None


def test_a_quota_on_an_ancestor_of_a_nested_cgroup_counts() -> None:
    # 0::/kubepods/pod1/c1: the container is unlimited, its pod has 2 CPUs
    assert fixture_quota("cgroup-v2-kubepods") == 2


def test_the_tightest_quota_along_the_path_wins(tmp_path: Path) -> None:
    files = {
        "kubepods/cpu.max": "800000 100000",
        "kubepods/pod1/cpu.max": "100000 100000",
        "kubepods/pod1/c1/cpu.max": "400000 100000",
    }
    assert tree(tmp_path, "0::/kubepods/pod1/c1", files) == 1


def test_sibling_cgroups_quotas_do_not_apply(tmp_path: Path) -> None:
    files = {"kubepods/pod2/cpu.max": "100000 100000", "kubepods/pod1/c1/cpu.max": "300000 100000"}
    assert tree(tmp_path, "0::/kubepods/pod1/c1", files) == 3


def test_a_path_the_mount_does_not_show_falls_back_to_the_mount_root(tmp_path: Path) -> None:
    # without a cgroup namespace /proc/self/cgroup names the host's path, the mount shows only our group
    assert tree(tmp_path, "0::/system.slice/docker-0123.scope", {"cpu.max": "200000 100000"}) == 2


def test_a_missing_proc_self_cgroup_reads_the_root_only(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("300000 100000\n")
    assert cpus.quota_cpus(tmp_path, tmp_path / "no-such-file") == 3


# --- cgroup v1


def test_cgroup_v1_cfs_quota_over_period_gives_cpus() -> None:
    assert fixture_quota("cgroup-v1-docker") == 3


def test_cgroup_v1_quota_minus_one_means_no_quota() -> None:
    assert fixture_quota("cgroup-v1-unlimited") is None


def test_cgroup_v1_host_path_not_visible_in_the_container_uses_the_mount_root() -> None:
    assert fixture_quota("cgroup-v1-host-path") == 2  # 150000 / 100000, rounded up


@pytest.mark.parametrize("mount", ["cpu", "cpu,cpuacct", "cpuacct,cpu"])
def test_cgroup_v1_cpu_controller_is_found_under_each_mount_name(tmp_path: Path, mount: str) -> None:
    files = {f"{mount}/cpu.cfs_quota_us": "250000", f"{mount}/cpu.cfs_period_us": "100000"}
    assert tree(tmp_path, f"5:{mount}:/", files) == 3


def test_cgroup_v1_nested_group_quota_counts(tmp_path: Path) -> None:
    files = {
        "cpu,cpuacct/cpu.cfs_quota_us": "-1",
        "cpu,cpuacct/cpu.cfs_period_us": "100000",
        "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "100000",
        "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000",
    }
    assert tree(tmp_path, "4:cpu,cpuacct:/docker/abc", files) == 1


def test_cgroup_v1_and_v2_together_take_the_smaller(tmp_path: Path) -> None:
    files = {
        "cpu.max": "400000 100000",
        "cpu,cpuacct/cpu.cfs_quota_us": "200000",
        "cpu,cpuacct/cpu.cfs_period_us": "100000",
    }
    assert tree(tmp_path, "4:cpu,cpuacct:/\n0::/", files) == 2


# --- what the worker maths uses


@pytest.mark.parametrize("fixture, quota", [("cgroup-v1-docker", 3), ("cgroup-v2-kubepods", 2), ("cgroup-v1-unlimited", None)])
def test_usable_cpus_never_exceeds_the_affinity_mask(monkeypatch: pytest.MonkeyPatch, fixture: str, quota: Optional[int]) -> None:
    # the real quota_cpus, pointed at a fixture tree instead of this machine's /sys/fs/cgroup
    root = FIXTURES / fixture
    monkeypatch.setattr(cpus, "quota_cpus", functools.partial(cpus.quota_cpus, root / "sys-fs-cgroup", root / "proc-self-cgroup"))
    usable = cpus.usable_cpus()
    assert 1 <= usable <= affinity()
    assert usable == (min(quota, affinity()) if quota else affinity())


def test_a_huge_quota_leaves_the_affinity_mask_as_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cpu.max").write_text("6400000 100000\n")  # 64 CPUs
    (tmp_path / "cgroup").write_text("0::/\n")
    monkeypatch.setattr(cpus, "quota_cpus", functools.partial(cpus.quota_cpus, tmp_path, tmp_path / "cgroup"))
    assert cpus.usable_cpus() == min(64, affinity())


def test_usable_cpus_on_this_machine_is_within_the_affinity_mask() -> None:
    assert 1 <= cpus.usable_cpus() <= affinity()


def test_settings_count_workers_from_the_usable_cpus(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    s = load({"APP_DIR": str(tmp_path), "NGINX_WORKER_PROCESSES": "auto"})
    assert s.usable_cpus == cpus.usable_cpus()
    assert 1 <= s.nginx_worker_processes <= s.usable_cpus  # as many as the connections need (capacity.nginx_workers)
    assert s.workers == max(2, s.usable_cpus)
