"""The exact versions inside: Python, nginx and the packages the runtime is built on (`aiohttp-nginx --version`)."""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
from importlib import metadata
from typing import Any, Dict, Optional, Sequence

from . import __version__

# The images' labels name the same packages (org.aiohttp-nginx-base.<name>, scripts/generate.py).
PACKAGES = ("aiohttp", "gunicorn", "supervisor", "uvloop")
ABSENT = "not installed"


def nginx_binary() -> Optional[str]:
    from .host import gather

    return gather().nginx_bin


def nginx_version() -> str:
    """`nginx -v` prints "nginx version: nginx/1.26.3" (on stderr)."""
    binary = nginx_binary()
    if binary is None:
        return ABSENT
    try:
        result = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ABSENT
    found = re.search(r"nginx/(\S+)", result.stderr + result.stdout)
    return found[1] if found else ABSENT


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ABSENT


def versions() -> Dict[str, str]:
    return {
        "aiohttp-nginx-base": __version__,
        "python": platform.python_version(),
        "nginx": nginx_version(),
        **{name: package_version(name) for name in PACKAGES},
    }


def describe() -> str:
    return "\n".join(f"{name} {version}" for name, version in versions().items())


class VersionAction(argparse.Action):
    """--version: computed when asked (it runs `nginx -v`), not whenever the parser is built."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="print the versions inside and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Optional[str] = None) -> None:
        print(describe())
        parser.exit()
