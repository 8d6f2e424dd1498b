#!/usr/bin/env python3
"""Tag the published images of a release commit with the release's version (the release workflow's last step).

    python3 scripts/release_images.py --version 0.1.0 --revision SHA --registry ghcr.io/o/aiohttp-nginx [--registry ...]
    python3 scripts/release_images.py ... --dry-run      # print the skopeo commands instead of running them

For every image of the matrix (scripts/matrix.py) and every registry, it waits (at most --wait seconds, polling) until
the moving tag, e.g. `python3.13`, is the image the publish workflow built from the release commit (its
`org.opencontainers.image.revision` label names --revision), then copies that manifest, every platform and its
attestations, digest unchanged, to `python3.13-0.1.0`. The cosign signature is on the digest, so it covers the new tag.
An image that never shows the revision stops it with one line and exit status 1; nothing else is tagged after it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

import matrix  # noqa: E402

LABEL = "org.opencontainers.image.revision"


def release_tag(image_tag: str, version: str) -> str:
    return f"{image_tag}-{version}"


def copy_command(repository: str, image_tag: str, version: str) -> List[str]:
    source, target = f"docker://{repository}:{image_tag}", f"docker://{repository}:{release_tag(image_tag, version)}"
    return ["skopeo", "copy", "--all", "--preserve-digests", source, target]


def revision_of(repository: str, image_tag: str) -> Optional[str]:
    """The revision label of the moving tag's linux/amd64 image, or None when it cannot be read (yet)."""
    argv = ["skopeo", "inspect", "--override-os", "linux", "--override-arch", "amd64", f"docker://{repository}:{image_tag}"]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        labels = json.loads(result.stdout).get("Labels") or {}
    except ValueError:
        return None
    value = labels.get(LABEL)
    return value if isinstance(value, str) else None


def wait_for(
    repository: str,
    image_tag: str,
    revision: str,
    wait: float,
    read: Callable[[str, str], Optional[str]] = revision_of,
    interval: float = 30.0,
) -> Optional[str]:
    """None once the tag shows the revision; else the last revision seen, after the deadline."""
    deadline = time.monotonic() + wait
    while True:
        seen = read(repository, image_tag)
        if seen == revision:
            return None
        if time.monotonic() + interval > deadline:
            return seen or "nothing readable"
        time.sleep(interval)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--version", required=True, help="the release, X.Y.Z")
    parser.add_argument("--revision", required=True, help="the release commit (40 hex digits)")
    parser.add_argument("--registry", action="append", required=True, metavar="REPO", help="e.g. ghcr.io/owner/aiohttp-nginx")
    parser.add_argument("--wait", type=float, default=3600.0, help="seconds to wait for each image of the commit (default 3600)")
    parser.add_argument("--dry-run", action="store_true", help="print the copies; inspect and copy nothing")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"\d+\.\d+\.\d+", args.version):
        print(f"release_images.py: --version {args.version!r} is not X.Y.Z", file=sys.stderr)
        return 2
    if not re.fullmatch(r"[0-9a-f]{40}", args.revision):
        print(f"release_images.py: --revision {args.revision!r} is not a 40-digit commit", file=sys.stderr)
        return 2
    for image in matrix.images():
        for repository in args.registry:
            command = copy_command(repository, image.tag, args.version)
            if args.dry_run:
                print(" ".join(command))
                continue
            seen = wait_for(repository, image.tag, args.revision, args.wait)
            if seen is not None:
                print(f"release_images.py: {repository}:{image.tag} is not the image of {args.revision} ({LABEL}: {seen})", file=sys.stderr)
                return 1
            status = subprocess.run(command, timeout=1800).returncode
            if status != 0:
                print(f"release_images.py: {' '.join(command)} failed (exit status {status})", file=sys.stderr)
                return 1
            print(f"tagged {repository}:{release_tag(image.tag, args.version)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
