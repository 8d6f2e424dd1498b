#!/usr/bin/env python3
"""The image matrix: which images exist, what they are built from and which tags they get.

docker-images/versions.json is the one list of Pythons; everything else (the
generated Dockerfiles, the CI matrix, the tags a publish pushes, the README's
Tags table) is derived here so that no second copy of the list can drift.

    python3 scripts/matrix.py json                      # GitHub Actions matrix
    python3 scripts/matrix.py list                      # the image tags, one a line
    python3 scripts/matrix.py tags [--date D] [--registry R ...] [--image TAG ...]
    python3 scripts/matrix.py readme                    # README "Tags" table
    python3 scripts/matrix.py pythons                   # the Python versions, a JSON list (compatibility matrix)
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ROOT / "docker-images" / "versions.json"
VARIANTS = ("debian", "alpine")
LEGACY_NOTE = "legacy = end-of-life Python, no upstream security fixes"


@dataclass(frozen=True)
class Image:
    tag: str  # the moving tag, e.g. python3.12 or python3.12-alpine
    python: str  # "3.12"
    variant: str  # "debian" | "alpine"
    base: str  # the official base image, e.g. python:3.12-slim-trixie
    dockerfile: str  # relative to the repository root
    legacy: bool


def load(path: Path = VERSIONS) -> Dict[str, Dict[str, Any]]:
    """The "pythons" mapping of versions.json, validated enough to fail early on a typo."""
    pythons: Dict[str, Dict[str, Any]] = json.loads(path.read_text())["pythons"]
    for version, entry in pythons.items():
        if not re.fullmatch(r"3\.\d+", version):
            raise ValueError(f"{path}: {version!r} is not a Python version like 3.12")
        missing = {"debian", "alpine", "legacy"} - set(entry)
        if missing:
            raise ValueError(f"{path}: {version} lacks {', '.join(sorted(missing))}")
    return pythons


def _version_key(version: str) -> List[int]:
    return [int(part) for part in version.split(".")]


def images(pythons: Optional[Dict[str, Dict[str, Any]]] = None) -> List[Image]:
    """Every image, oldest Python first, Debian before Alpine."""
    pythons = load() if pythons is None else pythons
    result: List[Image] = []
    for version in sorted(pythons, key=_version_key):
        entry = pythons[version]
        for variant in VARIANTS:
            tag = f"python{version}" + ("-alpine" if variant == "alpine" else "")
            base = f"python:{version}-slim-{entry['debian']}" if variant == "debian" else f"python:{version}-alpine{entry['alpine']}"
            result.append(Image(tag, version, variant, base, f"docker-images/{tag}.dockerfile", bool(entry["legacy"])))
    return result


def latest(all_images: Sequence[Image]) -> Image:
    """The image that also gets `latest`: the newest supported Debian one."""
    candidates = [i for i in all_images if i.variant == "debian" and not i.legacy]
    if not candidates:
        raise ValueError("no supported Debian image: nothing can be tagged latest")
    return max(candidates, key=lambda i: _version_key(i.python))


def publish_tags(image: Image, date: str, latest: bool) -> List[str]:
    """The tags one publish pushes: the moving tag, a dated one that never moves, maybe latest."""
    tags = [image.tag, f"{image.tag}-{date}"]
    return tags + ["latest"] if latest else tags


def by_tag(all_images: Sequence[Image], tag: str) -> Image:
    for image in all_images:
        if image.tag == tag:
            return image
    known = ", ".join(i.tag for i in all_images)
    raise KeyError(f"unknown image tag {tag!r} (known: {known})")


def github_matrix(all_images: Sequence[Image]) -> Dict[str, List[Dict[str, Any]]]:
    top = latest(all_images)
    return {"include": [{**asdict(i), "latest": i == top} for i in all_images]}


def references(all_images: Sequence[Image], selected: Sequence[Image], date: str, registries: Sequence[str]) -> List[str]:
    """`registry:tag` for every tag of the selected images; bare tags when no registry is given."""
    top = latest(all_images)
    tags = [t for image in selected for t in publish_tags(image, date, image == top)]
    return [f"{registry}:{t}" for registry in registries for t in tags] if registries else tags


def readme_table(all_images: Sequence[Image]) -> str:
    top = latest(all_images)
    lines = [
        "| Tag | Python | Base image | Status |",
        "|---|---|---|---|",
    ]
    for image in all_images:
        tag = f"`{image.tag}`, `latest`" if image == top else f"`{image.tag}`"
        status = "legacy" if image.legacy else "supported"
        lines.append(f"| {tag} | {image.python} | `{image.base}` | {status} |")
    lines += [
        "",
        f"Every publish also pushes `<tag>-YYYY-MM-DD`, which never moves. {LEGACY_NOTE[0].upper()}{LEGACY_NOTE[1:]}.",
    ]
    return "\n".join(lines)


def _date(text: str) -> str:
    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-26") from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("json", help="the GitHub Actions matrix ({'include': [...]}) on one line")
    sub.add_parser("list", help="the image tags (python3.X, python3.X-alpine), one a line")
    tags = sub.add_parser("tags", help="every reference a publish would push, one a line")
    tags.add_argument("--date", type=_date, default=datetime.datetime.now(datetime.timezone.utc).date().isoformat())
    tags.add_argument("--registry", action="append", default=[], metavar="REPO", help="e.g. ghcr.io/owner/aiohttp-nginx; repeatable")
    tags.add_argument("--image", action="append", default=[], metavar="TAG", help="only this image (e.g. python3.12-alpine); repeatable")
    sub.add_parser("readme", help="the README's Tags table")
    sub.add_parser("pythons", help="the Python versions as a JSON list, oldest first")
    args = parser.parse_args(argv)

    all_images = images()
    if args.command == "json":
        print(json.dumps(github_matrix(all_images), separators=(",", ":")))
    elif args.command == "list":
        print("\n".join(i.tag for i in all_images))
    elif args.command == "tags":
        try:
            selected = [by_tag(all_images, t) for t in args.image] or all_images
        except KeyError as error:
            print(f"matrix.py: {error.args[0]}", file=sys.stderr)
            return 2
        print("\n".join(references(all_images, selected, args.date, args.registry)))
    elif args.command == "pythons":
        print(json.dumps(sorted(load(), key=_version_key)))
    else:
        print(readme_table(all_images))
    return 0


if __name__ == "__main__":
    sys.exit(main())
