"""The images' shell scripts under the shells they meet: busybox sh (Alpine) and dash (Debian's /bin/sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from tests.extras import missing

SCRIPTS = Path(__file__).resolve().parents[2] / "docker-images"
ENTRYPOINT = SCRIPTS / "entrypoint.sh"
START = SCRIPTS / "start.sh"
SITE = "/usr/local/lib/python3.12/site-packages:/usr/lib/python3.12/site-packages"


def shells() -> List[pytest.param]:
    found = []
    for name, argv in (("busybox-sh", ["busybox", "sh"]), ("dash", ["dash"])):
        missing = shutil.which(argv[0]) is None
        found.append(pytest.param(argv, id=name, marks=pytest.mark.skipif(missing, reason=f"{argv[0]} is not installed")))
    return found


@pytest.fixture(params=shells())
def shell(request: pytest.FixtureRequest) -> List[str]:
    return list(request.param)


def run(shell: List[str], script: Path, args: List[str], env: Dict[str, str]) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(
        [*shell, str(script), *args], env={**base, **env},
        capture_output=True, text=True, timeout=30,
    )


# --- entrypoint.sh


def pythonpath_after_entrypoint(shell: List[str], env: Dict[str, str]) -> str:
    result = run(shell, ENTRYPOINT, [*shell, "-c", 'printf %s "${PYTHONPATH-<unset>}"'], env)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "before, after",
    [
        (None, SITE),
        ("", SITE),  # set but empty: no leading colon
        ("/opt/lib", "/opt/lib:" + SITE),
    ],
    ids=["unset", "empty", "existing"],
)
def test_entrypoint_puts_alpine_site_packages_on_pythonpath(shell: List[str], before: Optional[str], after: str) -> None:
    env = {"ALPINEPYTHON": "python3.12", **({"PYTHONPATH": before} if before is not None else {})}
    assert pythonpath_after_entrypoint(shell, env) == after


def test_entrypoint_leaves_pythonpath_alone_without_alpinepython(shell: List[str]) -> None:
    assert pythonpath_after_entrypoint(shell, {}) == "<unset>"
    assert pythonpath_after_entrypoint(shell, {"PYTHONPATH": "/opt/lib"}) == "/opt/lib"


def test_entrypoint_execs_its_arguments_unchanged(shell: List[str]) -> None:
    result = run(shell, ENTRYPOINT, ["printf", "[%s]\\n", "a b", "", "$HOME", "*"], {})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[a b]\n[]\n[$HOME]\n[*]\n"


def test_entrypoint_passes_the_exit_status_through(shell: List[str]) -> None:
    assert run(shell, ENTRYPOINT, [*shell, "-c", "exit 7"], {}).returncode == 7


# --- start.sh

FAKE_CLI = """#!/bin/sh
# stands in for the real CLI: shows what start.sh handed over
printf 'args:%s\\n' "$*"
printf 'GREETING=%s\\n' "${GREETING-<unset>}"
printf 'LOCAL=%s\\n' "${LOCAL-<unset>}"
"""


@pytest.fixture
def fake_cli(tmp_path: Path) -> Dict[str, str]:
    """PATH with a fake `aiohttp-nginx` first, and an empty APP_DIR."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cli = bin_dir / "aiohttp-nginx"
    cli.write_text(FAKE_CLI)
    cli.chmod(0o755)
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    return {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "APP_DIR": str(app_dir)}


def test_start_hands_its_arguments_to_aiohttp_nginx_start(shell: List[str], fake_cli: Dict[str, str]) -> None:
    # the hook is aiohttp-nginx start's job now (tests/unit/test_prestart.py): start.sh must not source it too
    (Path(fake_cli["APP_DIR"]) / "prestart.sh").write_text('export GREETING="sourced twice"\n')
    result = run(shell, START, ["--reload", "a b"], fake_cli)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["args:start --reload a b", "GREETING=<unset>", "LOCAL=<unset>"]


# --- static analysis


def shellcheck() -> Optional[str]:
    beside = Path(sys.executable).parent / "shellcheck"
    return str(beside) if beside.exists() else shutil.which("shellcheck")


def test_the_image_scripts_are_shellcheck_clean() -> None:
    tool = shellcheck()
    if tool is None:
        missing("shellcheck", "lint")
    scripts = sorted(str(p) for p in SCRIPTS.glob("*.sh"))
    assert scripts
    result = subprocess.run([tool, *scripts], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    assert result.returncode == 0, result.stdout
