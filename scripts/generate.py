#!/usr/bin/env python3
"""Render docker-images/<tag>.dockerfile for every image of the matrix.

    python3 scripts/generate.py           # write them
    python3 scripts/generate.py --check   # exit 1, listing stale, missing or extra files

The template is Jinja2 (the project's one template engine): it gets the
matrix entry (`image`), its locks, the ENV defaults from the settings table and
the exact package versions the lock pins (for the image's labels).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]  # matrix.py and the package, without installing either

import lock  # noqa: E402
import matrix  # noqa: E402
from jinja2 import Environment, StrictUndefined  # noqa: E402

from aiohttp_nginx_base.settings import VARIABLES  # noqa: E402

TEMPLATE = ROOT / "docker-images" / "Dockerfile.template"
SOURCE = "https://github.com/aiohttp-nginx-base/aiohttp-nginx-base"
PLAIN = re.compile(r"[A-Za-z0-9_./:@+-]+")


def env_defaults() -> Dict[str, str]:
    """Plain defaults only: unset ones stay unset, $APP_DIR-relative ones follow APP_DIR at run time."""
    return {v.name: v.default for v in VARIABLES if v.default is not None and not v.default.startswith("$APP_DIR")}


def _quote(value: str) -> str:
    if PLAIN.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


# The versions the images' labels name, pinned by the runtime lock.
LABELLED = ("aiohttp", "gunicorn", "supervisor", "uvloop")


def environment() -> Environment:
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["dockerquote"] = _quote
    return env


def render(image: matrix.Image, template: str) -> str:
    runtime_lock, build_lock = lock.image_locks(image)
    pinned = lock.pins((ROOT / runtime_lock).read_text(encoding="utf-8")) if (ROOT / runtime_lock).is_file() else {}
    return (
        environment()
        .from_string(template)
        .render(
            header=f"# generated from {TEMPLATE.relative_to(ROOT).as_posix()} by scripts/generate.py — do not edit",
            image=image,
            env=env_defaults(),
            source=SOURCE,
            runtime_lock=runtime_lock,
            build_lock=build_lock,
            versions={name: pinned.get(name, "unlocked") for name in LABELLED},
        )
    )


def expected() -> Dict[Path, str]:
    template = TEMPLATE.read_text(encoding="utf-8")
    return {ROOT / image.dockerfile: render(image, template) for image in matrix.images()}


def problems(files: Dict[Path, str]) -> List[str]:
    found: List[str] = []
    for path, text in files.items():
        rel = path.relative_to(ROOT).as_posix()
        if not path.is_file():
            found.append(f"missing: {rel}")
        elif path.read_text(encoding="utf-8") != text:
            found.append(f"stale: {rel}")
    for path in sorted((ROOT / "docker-images").glob("python*.dockerfile")):
        if path not in files:
            found.append(f"extra: {path.relative_to(ROOT).as_posix()} (not in docker-images/versions.json)")
    return found


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Render the Dockerfiles from docker-images/Dockerfile.template.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file differs from its rendering")
    args = parser.parse_args(argv)
    files = expected()
    if args.check:
        found = problems(files)
        for line in found:
            print(line, file=sys.stderr)
        if found:
            print("run: python3 scripts/generate.py", file=sys.stderr)
        return 1 if found else 0
    for path, text in files.items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT).as_posix()}")
    for path in sorted((ROOT / "docker-images").glob("python*.dockerfile")):
        if path not in files:
            path.unlink()
            print(f"removed {path.relative_to(ROOT).as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
