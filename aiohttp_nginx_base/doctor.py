"""`aiohttp-nginx doctor`: what this machine lacks for host mode and for the tests, and the line that installs it.

Standard library only, so that the prerequisites step runs with the system's python3 before any
virtual environment exists: `python3 -m aiohttp_nginx_base.doctor --install` (what scripts/prerequisites.sh
and .ci/run call). Each need is one program found on PATH (or in the sbin directories, where Debian puts
nginx and debootstrap) and the Debian package that provides it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")
HOST = "host mode (aiohttp-nginx run)"
TESTS = "tests (scripts/test.sh)"
APT_INSTALL = ["apt-get", "install", "-y", "-q", "--no-install-recommends"]


@dataclass(frozen=True)
class Need:
    name: str  # what is looked for: a program, or "docker compose"
    group: str  # HOST or TESTS
    why: str  # what needs it, in a few words
    package: str  # the Debian package that provides it


@dataclass(frozen=True)
class Finding:
    need: Need
    where: Optional[str]  # the program found, or None when it is missing

    @property
    def ok(self) -> bool:
        return self.where is not None


Runner = Callable[[Sequence[str]], bool]  # runs a command, True when it exits 0 in time


def run_quietly(argv: Sequence[str]) -> bool:
    try:
        return subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


NEEDS = (
    Need("python3 -m venv", HOST, "the virtual environment of the set-up", "python3-venv"),
    Need("nginx", HOST, "the web server the stack runs", "nginx"),
    # the engine, not only the CLI: a machine may carry a lone docker client (this project's CI machines do),
    # and .ci/run starts dockerd itself
    Need("dockerd", TESTS, "image and example tests (the Docker engine; .ci/run starts it)", "docker.io"),
    Need("docker compose", TESTS, "the compose example", "docker-compose"),
    Need("debootstrap", TESTS, "local stand-in base images (scripts/local-base.sh)", "debootstrap"),
    Need("busybox", TESTS, "local stand-in base images", "busybox"),
    Need("patchelf", TESTS, "local stand-in base images", "patchelf"),
    Need("wrk", TESTS, "load and capacity tests", "wrk"),
    Need("chromium", TESTS, "the chat example in a browser", "chromium"),
)


def search_path(path: Optional[str] = None) -> str:
    """PATH plus the sbin directories, which a user's PATH often lacks."""
    base = os.environ.get("PATH", "") if path is None else path
    return os.pathsep.join([base, *SBIN])


def find(need: Need, path: str, runner: Runner = run_quietly) -> Optional[str]:
    if need.name == "python3 -m venv":
        # Debian's python3 has venv but not ensurepip, its pip, without python3-venv
        python = shutil.which("python3", path=path)
        return f"{python} (venv, ensurepip)" if python and runner([python, "-c", "import ensurepip, venv"]) else None
    if need.name == "docker compose":
        docker = shutil.which("docker", path=path)
        if docker and runner([docker, "compose", "version"]):
            return f"{docker} compose"
        return shutil.which("docker-compose", path=path)
    return shutil.which(need.name, path=path)


def examine(path: Optional[str] = None, runner: Runner = run_quietly) -> List[Finding]:
    where = search_path(path)
    return [Finding(need, find(need, where, runner)) for need in NEEDS]


def engine_answers(path: Optional[str] = None, runner: Runner = run_quietly) -> bool:
    docker = shutil.which("docker", path=search_path(path))
    return bool(docker) and runner([docker or "docker", "info"])


def missing_packages(findings: Sequence[Finding]) -> List[str]:
    packages: List[str] = []
    for finding in findings:
        if not finding.ok and finding.need.package not in packages:
            packages.append(finding.need.package)
    return packages


def install_line(packages: Sequence[str], root: bool) -> str:
    return " ".join(([] if root else ["sudo"]) + APT_INSTALL + list(packages))


def report(findings: Sequence[Finding], engine: bool, root: bool) -> str:
    lines = ["aiohttp-nginx doctor: what this machine has for host mode and for the tests"]
    for group in (HOST, TESTS):
        lines.append(group)
        for finding in (f for f in findings if f.need.group == group):
            state = "ok" if finding.ok else "missing"
            detail = finding.where if finding.ok else f"{finding.need.why} (Debian package {finding.need.package})"
            lines.append(f"  {state:8} {finding.need.name:15} {detail}")
    docker_found = any(f.ok for f in findings if f.need.name == "dockerd")
    if docker_found and not engine:
        lines.append(
            "  missing  Docker engine   installed but not answering `docker info`: start it (systemctl start docker, or dockerd &)"
        )
    packages = missing_packages(findings)
    if packages:
        lines.append("Install what is missing (Debian, Ubuntu):")
        prefix = "" if root else "sudo "
        lines.append(f"  {prefix}apt-get update && {install_line(packages, root)}")
        lines.append("  or: sudo scripts/prerequisites.sh (the same step CI runs)")
    elif engine:
        lines.append("Nothing is missing.")
    return "\n".join(lines)


def install(packages: Sequence[str]) -> int:
    """apt-get update and install, as root; the exit status of the first command that fails."""
    if not packages:
        return 0
    if shutil.which("apt-get") is None:
        print(f"aiohttp-nginx doctor: no apt-get here: install {' '.join(packages)} with this system's package manager", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print(f"aiohttp-nginx doctor: installing needs root: sudo {install_line(packages, True)}", file=sys.stderr)
        return 2
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"aiohttp-nginx doctor: installing {' '.join(packages)}", flush=True)
    for argv in (["apt-get", "update", "-q"], [*APT_INSTALL, *packages]):
        status = subprocess.run(argv, env=env).returncode
        if status != 0:
            print(f"aiohttp-nginx doctor: {' '.join(argv[:2])} failed (exit status {status})", file=sys.stderr)
            return status
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="aiohttp-nginx doctor", description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--install", action="store_true", help="install the missing Debian packages with apt-get (as root)")


def run(args: argparse.Namespace) -> int:
    """Exit 0 when nothing is missing; 1 when something is. With --install, 0 once every package is there."""
    root = os.geteuid() == 0
    findings = examine()
    if args.install:
        status = install(missing_packages(findings))
        if status != 0:
            return status
        findings = examine()
        if missing_packages(findings):
            print(report(findings, engine_answers(), root))
            return 1
        print("aiohttp-nginx doctor: every package is installed")
        return 0
    engine = engine_answers()
    print(report(findings, engine, root))
    return 0 if engine and not missing_packages(findings) else 1


if __name__ == "__main__":
    sys.exit(main())
