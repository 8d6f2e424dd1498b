"""The dependency locks (scripts/lock.py): lint fails on a stale, edited or incomplete lock; the Dockerfiles install them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import lock  # noqa: E402
import matrix  # noqa: E402


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the inputs and locks, to spoil."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    return tmp_path


def check(repo: Path) -> List[str]:
    return lock.problems(lock.Inputs.read(repo / "pyproject.toml"), root=repo)


def test_the_committed_locks_are_fresh() -> None:
    result = subprocess.run([sys.executable, "scripts/lock.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_lint_runs_the_lock_check() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import lint

    assert [sys.executable, "scripts/lock.py", "--check"] in lint.checks()


def test_a_new_dependency_makes_every_runtime_lock_stale(repo: Path) -> None:
    text = (repo / "pyproject.toml").read_text()
    (repo / "pyproject.toml").write_text(text.replace('dependencies = [\n', 'dependencies = [\n    "jinja2>=3",\n', 1))
    found = check(repo)
    why = "(pyproject.toml's runtime requirements changed since it was written)"
    assert found == [f"stale: requirements/python{python}.txt {why}" for python in lock.pythons()]


def test_a_changed_build_requirement_makes_the_build_locks_stale(repo: Path) -> None:
    text = (repo / "pyproject.toml").read_text()
    (repo / "pyproject.toml").write_text(text.replace('requires = ["setuptools>=61"]', 'requires = ["setuptools>=70"]'))
    assert all(line.startswith("stale: requirements/") and "-build.txt" in line for line in check(repo))
    assert len(check(repo)) == len(lock.pythons())


def test_a_pin_edited_outside_the_allowed_range_fails(repo: Path) -> None:
    path = repo / "requirements" / "python3.13.txt"
    path.write_text(re.sub(r"^aiohttp==\S+", "aiohttp==3.15.0", path.read_text(), flags=re.M))
    assert check(repo) == ["stale: requirements/python3.13.txt pins aiohttp==3.15.0, outside <3.15,>=3.10.7"]


def test_a_pin_without_hashes_fails(repo: Path) -> None:
    path = repo / "requirements" / "python3.11.txt"
    text = re.sub(r"^(gunicorn==\S+) \\\n(?:    --hash=\S+(?: \\)?\n)+", r"\1\n", path.read_text(), flags=re.M)
    path.write_text(text)
    assert check(repo) == ["broken: requirements/python3.11.txt (every pin needs its hashes)"]


def test_missing_and_extra_locks_are_reported(repo: Path) -> None:
    (repo / "requirements" / "python3.12-build.txt").unlink()
    (repo / "requirements" / "python3.7.txt").write_text("")
    assert check(repo) == [
        "missing: requirements/python3.12-build.txt",
        "extra: requirements/python3.7.txt (no Python python3.7 in docker-images/versions.json)",
    ]


def test_a_per_libc_lock_is_used_when_there_is_one(repo: Path) -> None:
    assert lock.runtime_lock("3.13", "musl", root=repo) == repo / "requirements" / "python3.13.txt"
    (repo / "requirements" / "python3.13-musl.txt").write_text("")
    assert lock.runtime_lock("3.13", "musl", root=repo) == repo / "requirements" / "python3.13-musl.txt"
    assert lock.runtime_lock("3.13", "glibc", root=repo) == repo / "requirements" / "python3.13.txt"


def test_the_private_internals_have_upper_bounds() -> None:
    inputs = lock.Inputs.read()
    bounded = {re.split(r"[<>=;\s]", r, maxsplit=1)[0]: r for r in inputs.runtime}
    assert "<" in bounded["aiohttp"] and "<" in bounded["supervisor"], bounded


@pytest.mark.parametrize("image", matrix.images(), ids=lambda i: i.tag)
def test_every_dockerfile_installs_its_locks_with_hashes(image: matrix.Image) -> None:
    text = (ROOT / image.dockerfile).read_text()
    runtime, build = lock.image_locks(image)
    assert f"COPY {runtime} /tmp/aiohttp-nginx-src/requirements.txt\n" in text
    assert f"COPY {build} /tmp/aiohttp-nginx-src/build-requirements.txt\n" in text
    assert (ROOT / runtime).is_file() and (ROOT / build).is_file()
    pinned = lock.pins((ROOT / runtime).read_text())
    for name in ("aiohttp", "gunicorn", "supervisor", "uvloop"):
        assert f'org.aiohttp-nginx-base.{name}="{pinned[name]}"' in text
    # nothing is installed from outside the locks but the package itself
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert len(installs) == 3 and all("--no-deps" in line for line in installs)
    assert sum("--require-hashes" in line for line in installs) == 2
