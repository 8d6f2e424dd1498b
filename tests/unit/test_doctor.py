"""`aiohttp-nginx doctor`: what is missing, and the exact line that installs it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from aiohttp_nginx_base import doctor

COMMAND = str(Path(sys.executable).with_name("aiohttp-nginx"))
ROOT = Path(__file__).resolve().parents[2]


def program(directory: Path, name: str, exit_status: int = 0) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\nexit {exit_status}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def never(argv: Sequence[str]) -> bool:
    raise AssertionError(f"ran {argv}: nothing should be run when nothing is there")


def test_an_empty_machine_lacks_everything_and_gets_one_install_line(tmp_path: Path) -> None:
    findings = doctor.examine(path=str(tmp_path / "nothing"), runner=lambda argv: False)
    # the sbin directories are always searched: count only what this machine lacks there too
    missing = [f.need.package for f in findings if not f.ok]
    assert missing == doctor.missing_packages(findings)
    text = doctor.report(findings, engine=False, root=False)
    line = next(line.strip() for line in text.splitlines() if "apt-get install" in line)
    assert line == "sudo apt-get update && sudo apt-get install -y -q --no-install-recommends " + " ".join(missing)
    as_root = doctor.report(findings, engine=False, root=True)
    assert "sudo apt-get" not in as_root


def test_programs_on_path_are_found(tmp_path: Path) -> None:
    for need in doctor.NEEDS:
        if " " not in need.name:
            program(tmp_path, need.name)
    program(tmp_path, "python3")
    program(tmp_path, "docker")  # the client, beside the engine (dockerd)
    ran = []

    def runner(argv: Sequence[str]) -> bool:
        ran.append(list(argv))
        return True

    findings = doctor.examine(path=str(tmp_path), runner=runner)
    assert all(f.ok for f in findings), [f.need.name for f in findings if not f.ok]
    assert [str(tmp_path / "docker"), "compose", "version"] in ran
    assert doctor.missing_packages(findings) == []
    text = doctor.report(findings, engine=True, root=False)
    assert "apt-get" not in text and text.endswith("Nothing is missing.")


def test_a_docker_client_alone_is_not_the_engine(tmp_path: Path) -> None:
    # a fresh CI machine carries a static docker CLI but no dockerd: .ci/run must still install docker.io
    program(tmp_path, "docker")
    need = next(n for n in doctor.NEEDS if n.package == "docker.io")
    assert need.name == "dockerd"
    assert doctor.find(need, str(tmp_path)) is None
    program(tmp_path, "dockerd")
    assert doctor.find(need, str(tmp_path)) == str(tmp_path / "dockerd")


def test_docker_without_an_engine_is_reported(tmp_path: Path) -> None:
    program(tmp_path, "docker")
    program(tmp_path, "dockerd")
    findings = doctor.examine(path=str(tmp_path), runner=lambda argv: False)
    assert doctor.engine_answers(path=str(tmp_path), runner=lambda argv: False) is False
    text = doctor.report(findings, engine=False, root=True)
    assert "Docker engine   installed but not answering" in text
    # compose v2 is a docker plugin: docker alone is not compose
    assert "docker-compose" in doctor.missing_packages(findings)


def test_the_command_on_this_machine() -> None:
    # a real run: nginx is what host mode needs, and this machine runs the host tests with it
    result = subprocess.run([COMMAND, "doctor"], capture_output=True, text=True, timeout=60)
    assert result.returncode in (0, 1), result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("aiohttp-nginx doctor:")
    nginx = next(line for line in lines if line.split()[1:2] == ["nginx"])
    need = next(n for n in doctor.NEEDS if n.name == "nginx")
    assert nginx.split()[0] == ("ok" if doctor.find(need, doctor.search_path()) else "missing")


def test_install_without_apt_get_says_so_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no apt-get, no docker: packages are missing
    result = subprocess.run(
        [sys.executable, "-m", "aiohttp_nginx_base.doctor", "--install"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no apt-get here" in result.stderr
