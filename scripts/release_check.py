#!/usr/bin/env python3
"""Build both distributions as a release does, check them, install them into a fresh virtual environment, run them.

    python scripts/release_check.py                    # into a temporary directory, removed afterwards
    python scripts/release_check.py --outdir dist      # keep the sdists and wheels there (the release workflow)
    python scripts/release_check.py --tag v0.1.0      # also: the tag names the version of both distributions

aiohttp-nginx-base and its test kit pytest-aiohttp-nginx are released together under one version. Steps: the two
versions agree (and match --tag); `python -m build` makes an sdist and a wheel of each; `twine check --strict`; the
wheels hold the package data (templates, py.typed); a fresh venv installs both wheels (dependencies from the index)
and runs `aiohttp-nginx --version`, and finds the test kit's pytest plugin. Needs `build` and `twine` (the lint extra).
Exit status 0 when every step passed; 1 with one line naming the step that failed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
KIT = ROOT / "pytest-aiohttp-nginx"
VERSION_FILES = {
    "aiohttp-nginx-base": ROOT / "aiohttp_nginx_base" / "__init__.py",
    "pytest-aiohttp-nginx": KIT / "pytest_aiohttp_nginx" / "__init__.py",
}
# files each wheel must carry beyond the modules
WHEEL_DATA = {
    "aiohttp_nginx_base": ["aiohttp_nginx_base/py.typed", "aiohttp_nginx_base/templates/nginx.conf.j2"],
    "pytest_aiohttp_nginx": ["pytest_aiohttp_nginx/py.typed"],
}


class Failed(Exception):
    """One step failed: the message is the line printed."""


def version_of(path: Path) -> str:
    found = re.search(r'^__version__ = "([^"]+)"', path.read_text(), re.M)
    if found is None:
        raise Failed(f'{path.relative_to(ROOT)}: no __version__ = "X.Y.Z" line')
    return found[1]


def release_version(tag: Optional[str]) -> str:
    versions = {name: version_of(path) for name, path in VERSION_FILES.items()}
    if len(set(versions.values())) != 1:
        raise Failed(f"the two distributions disagree: {versions} (they are released under one version)")
    version = next(iter(versions.values()))
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise Failed(f"version {version!r} is not X.Y.Z")
    if tag is not None and tag != f"v{version}":
        raise Failed(f"tag {tag!r} does not name the version {version} (expected v{version})")
    return version


def run(step: str, argv: Sequence[str], timeout: float = 600) -> str:
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise Failed(f"{step}: {error}") from None
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        sys.stderr.write("\n".join(tail) + "\n")
        raise Failed(f"{step}: {' '.join(argv[:4])} ... exited with status {result.returncode}")
    return result.stdout


def build(out: Path) -> List[Path]:
    for source in (ROOT, KIT):
        run(f"build {source.name}", [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(source)])
    return sorted(out.iterdir())


def expect_files(files: Sequence[Path], version: str) -> None:
    names = {f.name for f in files}
    wanted = {f"{dist}-{version}{suffix}" for dist in WHEEL_DATA for suffix in (".tar.gz", "-py3-none-any.whl")}
    if names != wanted:
        raise Failed(f"built {sorted(names)}, expected {sorted(wanted)}")
    for dist, data in WHEEL_DATA.items():
        with zipfile.ZipFile(next(f for f in files if f.name == f"{dist}-{version}-py3-none-any.whl")) as wheel:
            missing = set(data) - set(wheel.namelist())
        if missing:
            raise Failed(f"the {dist} wheel lacks {sorted(missing)} (package data)")


def install_and_run(files: Sequence[Path], version: str, scratch: Path) -> None:
    venv = scratch / "venv"
    run("venv", [sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    wheels = [str(f) for f in files if f.suffix == ".whl"]
    run("install the wheels", [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *wheels])
    printed = run("aiohttp-nginx --version", [str(venv / "bin" / "aiohttp-nginx"), "--version"], timeout=60)
    if f"aiohttp-nginx-base {version}" not in printed.splitlines():
        raise Failed(f"aiohttp-nginx --version printed no 'aiohttp-nginx-base {version}' line:\n{printed}")
    probe = (
        "import importlib.metadata as m, pytest_aiohttp_nginx.plugin as p; "
        "eps = m.entry_points(); group = eps.select(group='pytest11') if hasattr(eps, 'select') else eps.get('pytest11', []); "
        "print(m.version('pytest-aiohttp-nginx'), sorted(e.value for e in group))"
    )
    found = run("the test kit", [str(python), "-c", probe], timeout=60).strip()
    if found != f"{version} ['pytest_aiohttp_nginx.plugin']":
        raise Failed(f"the test kit installed as {found!r}, expected version {version} with its pytest11 entry point")


def check(outdir: Optional[Path], tag: Optional[str]) -> str:
    version = release_version(tag)
    with tempfile.TemporaryDirectory(prefix="release-check-") as tmp:
        scratch = Path(tmp)
        out = outdir.resolve() if outdir else scratch / "dist"
        if out.exists() and any(out.iterdir()):
            raise Failed(f"{out} is not empty: give a fresh --outdir")
        out.mkdir(parents=True, exist_ok=True)
        files = build(out)
        expect_files(files, version)
        twine = shutil.which("twine", path=str(Path(sys.executable).parent)) or shutil.which("twine")
        if twine is None:
            raise Failed("twine is not installed (pip install -e '.[lint]')")
        run("twine check", [twine, "check", "--strict", *map(str, files)])
        install_and_run(files, version, scratch)
        return f"release check: {', '.join(f.name for f in files)}: built, twine-checked, installed and run (version {version})"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--outdir", type=Path, help="keep the built distributions in this (new or empty) directory")
    parser.add_argument("--tag", help="the git tag being released, e.g. v0.1.0: it must name the version")
    args = parser.parse_args(argv)
    try:
        print(check(args.outdir, args.tag))
    except Failed as failure:
        print(f"release check: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
