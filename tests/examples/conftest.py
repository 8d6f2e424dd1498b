"""The examples run on the image of this checkout: `scripts/build.sh` of the first tag in IMAGE_TAGS (default python3.13)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TAG = (os.environ.get("IMAGE_TAGS", "").split() or ["python3.13"])[0]
IMAGE_REPO = os.environ.get("IMAGE", "aiohttp-nginx")


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


@pytest.fixture(scope="session")
def aiohttp_nginx_image(aiohttp_nginx_docker: None) -> str:
    """Overrides the plugin's fixture: build the image from this checkout (docker's cache makes a rebuild quick)."""
    dockerfile = ROOT / "docker-images" / f"{TAG}.dockerfile"
    if not dockerfile.is_file():
        pytest.fail(f"IMAGE_TAGS names {TAG!r} but there is no docker-images/{TAG}.dockerfile", pytrace=False)
    default = re.search(r"^ARG BASE_IMAGE=(\S+)", dockerfile.read_text(), re.M)
    base = os.environ.get("BASE_IMAGE") or (default[1] if default else "")
    if subprocess.run(["docker", "image", "inspect", base], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
        version = re.search(r"\d+\.\d+", TAG)
        pytest.fail(f"base image {base} is missing: run scripts/local-base.sh {version[0] if version else 'X.Y'}", pytrace=False)
    started = time.monotonic()
    result = subprocess.run(
        [str(ROOT / "scripts" / "build.sh"), TAG], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/build.sh {TAG} exited with {result.returncode}:\n{_tail(result.stdout)}", pytrace=False)
    print(f"\nbuilt {IMAGE_REPO}:{TAG} in {time.monotonic() - started:.0f} s")
    return f"{IMAGE_REPO}:{TAG}"
