"""Static checks, each a real tool: ruff, mypy, shellcheck, hadolint, the generated-files check, and the docs site built strictly."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parent.parent


def tool(name: str) -> str:
    """Prefer the tool installed beside this Python (the lint extra), then PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def checks(site: str = "site") -> List[List[str]]:
    shell = sorted(
        glob.glob("docker-images/*.sh") + glob.glob("scripts/*.sh") + glob.glob("examples/**/*.sh", recursive=True) + [".ci/run"]
    )
    dockerfiles = sorted(
        glob.glob("docker-images/*.dockerfile")
        + glob.glob("examples/**/Dockerfile", recursive=True)
        + glob.glob("benchmarks/**/Dockerfile", recursive=True)
        + glob.glob("tests/**/*.Dockerfile", recursive=True)
    )
    return [
        [tool("ruff"), "check", "."],
        [sys.executable, "-m", "mypy"],
        [tool("shellcheck"), "-S", "warning", *shell],
        *([[tool("hadolint"), *dockerfiles]] if dockerfiles else []),
        [sys.executable, "scripts/lock.py", "--check"],
        [sys.executable, "scripts/generate.py", "--check"],
        [sys.executable, "scripts/readme.py", "--check"],
        # the documentation site (the docs extra): a broken link, a page outside the nav or a missing anchor fails
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", site],
    ]


def main() -> int:
    os.chdir(ROOT)
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")  # mkdocs-material's end-of-life banner on every build
    failed = []
    site = tempfile.mkdtemp(prefix="aiohttp-nginx-site-")
    try:
        for command in checks(site):
            result = subprocess.run(command)
            if result.returncode != 0:
                failed.append(Path(command[0]).name if command[0] != sys.executable else " ".join(command[1:3]))
    finally:
        shutil.rmtree(site, ignore_errors=True)
    if failed:
        print(f"lint: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("lint: ruff, mypy, shellcheck, hadolint, lock/generate/readme --check, mkdocs build --strict: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
