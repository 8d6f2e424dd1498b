#!/usr/bin/env python3
"""Lock the images' Python packages: exact versions and hashes, one lock per Python of the matrix.

    python3 scripts/lock.py             # write requirements/*.txt, keeping the pins they already have
    python3 scripts/lock.py --upgrade   # the newest versions pyproject.toml allows
    python3 scripts/lock.py --check     # exit 1 when a lock is missing, extra, or stale (offline)

The one input is pyproject.toml: [project] dependencies for the runtime lock
(requirements/python3.X.txt, installed into the image) and [build-system]
requires for the build lock (requirements/python3.X-build.txt, used only to
build the package in the Dockerfiles' first stage). uv resolves them
(`uv pip compile --generate-hashes --only-binary :all:`) for every platform
the images are published for; when glibc and musl resolve differently, the
runtime lock is split into python3.X-glibc.txt and python3.X-musl.txt.

A lock is stale when its input changed since it was written: each lock's
header records a digest of what produced it. --check also verifies that every
pin carries hashes and that the direct requirements are pinned within the
ranges pyproject.toml allows, so a lock edited by hand (or by a bot) that
leaves those ranges fails too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE)]

import matrix  # noqa: E402

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the scripts run on 3.11+ in CI; tomli is in the test extra for older ones
    import tomli as tomllib

LOCKS = ROOT / "requirements"
PYPROJECT = ROOT / "pyproject.toml"
# What the images are published for (the publish workflow's platforms), per C library.
PLATFORMS: Dict[str, Tuple[str, ...]] = {
    "glibc": ("x86_64-manylinux_2_28", "aarch64-manylinux_2_28"),
    "musl": ("x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"),
}
LIBC = {"debian": "glibc", "alpine": "musl"}
# Wheels only: the Alpine images have no compiler, and a build from source would not be the tested artefact.
UV_OPTIONS = ("--generate-hashes", "--only-binary", ":all:", "--no-strip-markers")
COMMAND = "python3 scripts/lock.py"
DIGEST = re.compile(r"^# input: sha256:([0-9a-f]{64})$", re.M)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(?: ;[^\\\n]*)?(?: \\)?$", re.M)


@dataclass(frozen=True)
class Inputs:
    runtime: Tuple[str, ...]
    build: Tuple[str, ...]

    @classmethod
    def read(cls, path: Path = PYPROJECT) -> Inputs:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return cls(tuple(data["project"]["dependencies"]), tuple(data["build-system"]["requires"]))


def pythons() -> List[str]:
    return sorted(matrix.load(), key=lambda v: [int(p) for p in v.split(".")])


def digest(kind: str, python: str, requirements: Sequence[str]) -> str:
    """What a lock depends on: its requirements, the Python, the platforms and uv's options."""
    payload = {"kind": kind, "python": python, "requirements": list(requirements), "platforms": PLATFORMS, "uv": UV_OPTIONS}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def runtime_lock(python: str, libc: Optional[str] = None, root: Path = ROOT) -> Path:
    """The runtime lock of one image: the per-libc file when the Python has one, else the shared one."""
    split = root / "requirements" / f"python{python}-{libc}.txt"
    return split if libc and split.is_file() else root / "requirements" / f"python{python}.txt"


def build_lock(python: str, root: Path = ROOT) -> Path:
    return root / "requirements" / f"python{python}-build.txt"


def image_locks(image: matrix.Image) -> Tuple[str, str]:
    """(runtime lock, build lock) of an image, relative to the repository root (for the Dockerfiles)."""
    runtime = runtime_lock(image.python, LIBC[image.variant])
    return runtime.relative_to(ROOT).as_posix(), build_lock(image.python).relative_to(ROOT).as_posix()


def uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        raise SystemExit("lock.py: uv is not installed (pip install uv; it is in the lint extra)")
    return found


def compile_one(python: str, platform: str, requirements: Sequence[str], previous: Optional[Path], upgrade: bool) -> str:
    """`uv pip compile` for one Python and platform; pins of `previous` are kept unless upgrading."""
    with tempfile.TemporaryDirectory(prefix="lock-") as tmp:
        source = Path(tmp) / "requirements.in"
        source.write_text("".join(f"{r}\n" for r in requirements))
        output = Path(tmp) / "lock.txt"
        if previous is not None and previous.is_file() and not upgrade:
            output.write_text(previous.read_text())  # uv prefers the versions an existing output pins
        command = [uv(), "pip", "compile", "--quiet", "--python-version", python, "--python-platform", platform, *UV_OPTIONS]
        command += ["--no-header", "--annotation-style", "line", "--output-file", str(output), str(source)]
        result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "UV_NO_CONFIG": "1"})
        if result.returncode:
            raise SystemExit(f"lock.py: uv pip compile for Python {python} on {platform} failed:\n{result.stderr}")
        # the annotations name the temporary input file: name pyproject.toml instead
        return re.sub(r"-r \S+requirements\.in", "pyproject.toml", output.read_text())


def header(kind: str, python: str, requirements: Sequence[str], platforms: Sequence[str]) -> str:
    lines = [
        f"# generated by {COMMAND} from pyproject.toml ({kind}) - do not edit; rerun it (--upgrade for newer versions)",
        f"# Python {python}; wheels for {', '.join(platforms)}",
        f"# input: sha256:{digest(kind, python, requirements)}",
    ]
    return "\n".join(lines) + "\n"


def expected(inputs: Inputs, upgrade: bool = False) -> Dict[Path, str]:
    """Every lock file and its text (resolving with uv, in parallel: it waits on the index, not the CPU)."""
    jobs = []
    for python in pythons():
        for libc, platforms in PLATFORMS.items():
            for platform in platforms:
                jobs.append(("runtime", python, libc, platform, inputs.runtime, runtime_lock(python, libc)))
        jobs.append(("build", python, "glibc", PLATFORMS["glibc"][0], inputs.build, build_lock(python)))
    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(lambda j: compile_one(j[1], j[3], j[4], j[5], upgrade), jobs))
    results: Dict[Tuple[str, str], Dict[str, str]] = {}
    for job, body in zip(jobs, bodies):
        results.setdefault((job[0], job[1]), {})[job[3]] = body
    files: Dict[Path, str] = {}
    for python in pythons():
        build = results[("build", python)]
        files[build_lock(python)] = header("build", python, inputs.build, list(build)) + next(iter(build.values()))
        runtime = results[("runtime", python)]
        by_libc = {libc: {runtime[p] for p in platforms} for libc, platforms in PLATFORMS.items()}
        for libc, bodies_of_libc in by_libc.items():
            if len(bodies_of_libc) != 1:
                raise SystemExit(f"lock.py: Python {python}: amd64 and arm64 ({libc}) resolve differently; lock them apart first")
        if len({b for s in by_libc.values() for b in s}) == 1:
            files[LOCKS / f"python{python}.txt"] = header("runtime", python, inputs.runtime, list(runtime)) + next(iter(runtime.values()))
        else:
            for libc, platforms in PLATFORMS.items():
                text = header("runtime", python, inputs.runtime, platforms) + runtime[platforms[0]]
                files[LOCKS / f"python{python}-{libc}.txt"] = text
    return files


def pins(text: str) -> Dict[str, str]:
    return {canonical(name): version for name, version in PIN.findall(text)}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def problems(inputs: Inputs, root: Path = ROOT) -> List[str]:
    """Offline: every lock present and fresh, nothing extra, direct requirements pinned within range and hashed."""
    from packaging.requirements import Requirement

    found: List[str] = []
    wanted: List[Tuple[Path, str, str, Tuple[str, ...]]] = []
    for python in pythons():
        wanted.append((build_lock(python, root), "build", python, inputs.build))
        split = [root / "requirements" / f"python{python}-{libc}.txt" for libc in PLATFORMS]
        for path in split if all(p.is_file() for p in split) else [root / "requirements" / f"python{python}.txt"]:
            wanted.append((path, "runtime", python, inputs.runtime))
    for path, kind, python, requirements in wanted:
        rel = path.relative_to(root).as_posix()
        if not path.is_file():
            found.append(f"missing: {rel}")
            continue
        text = path.read_text(encoding="utf-8")
        recorded = DIGEST.search(text)
        if not recorded or recorded[1] != digest(kind, python, requirements):
            found.append(f"stale: {rel} (pyproject.toml's {kind} requirements changed since it was written)")
            continue
        pinned = pins(text)
        blocks = [b for b in re.split(r"\n(?=\S)", text) if PIN.match(b)]
        if len(blocks) != len(pinned) or any("--hash=sha256:" not in b for b in blocks):
            found.append(f"broken: {rel} (every pin needs its hashes)")
        environment = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux"}
        for line in requirements:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            version = pinned.get(canonical(requirement.name))
            if version is None:
                found.append(f"stale: {rel} does not pin {requirement.name}")
            elif not requirement.specifier.contains(version, prereleases=True):
                found.append(f"stale: {rel} pins {requirement.name}=={version}, outside {requirement.specifier}")
    known = {w[0] for w in wanted}
    for path in sorted((root / "requirements").glob("python*.txt")):
        if path not in known:
            found.append(f"extra: {path.relative_to(root).as_posix()} (no Python {path.stem} in docker-images/versions.json)")
    return found


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="write nothing (and resolve nothing); exit 1 when a lock is stale")
    mode.add_argument("--upgrade", action="store_true", help="take the newest versions pyproject.toml allows")
    args = parser.parse_args(argv)
    inputs = Inputs.read()
    if args.check:
        found = problems(inputs)
        for line in found:
            print(line, file=sys.stderr)
        if found:
            print(f"run: {COMMAND}", file=sys.stderr)
        return 1 if found else 0
    files = expected(inputs, upgrade=args.upgrade)
    LOCKS.mkdir(exist_ok=True)
    for path, text in files.items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT).as_posix()}")
    for path in sorted(LOCKS.glob("python*.txt")):
        if path not in files:
            path.unlink()
            print(f"removed {path.relative_to(ROOT).as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
