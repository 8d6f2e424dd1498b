#!/usr/bin/env python3
"""The nginx package version a build of TAG installs today: what to pass as NGINX_VERSION.

An image label can only name what is known before the build runs, so the version is asked of the
base image's own package index first; the Dockerfile then installs exactly that version and labels
the image with it (org.aiohttp-nginx-base.nginx). The images still follow the distro's security
fixes: each build asks again. scripts/build.sh and the workflows call this.

    python3 scripts/nginx_version.py TAG [--base IMAGE] [--platform P ...]   # e.g. 1.26.3-3+deb13u11
"""

from __future__ import annotations

import argparse
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Sequence

sys.path[:0] = [str(Path(__file__).resolve().parent)]

import matrix  # noqa: E402 - a sibling script, found through the line above

# what each variant's package manager says it would install; the index is fetched first, as the build does
ASK = {
    # --error-on=any: a source that cannot be fetched (the security one, say) fails the question rather
    # than let an older candidate from the others be pinned
    "debian": "apt-get update -qq --error-on=any >/dev/null && apt-cache policy nginx",
    "alpine": "apk add --no-cache --simulate nginx",
}
# `Candidate: 1.26.3-3+deb13u11`; apk (2 and 3): `(5/5) Installing nginx (1.28.0-r3)`
ANSWER = {
    "debian": re.compile(r"^\s*Candidate:\s*(\S+)\s*$", re.MULTILINE),
    "alpine": re.compile(r"Installing nginx \(([^)\s]+)\)"),
}
# a package version as apt and apk spell them: nothing a shell or a label would read twice
VERSION = re.compile(r"[0-9][A-Za-z0-9.+~:_-]*")


class Unanswered(Exception):
    pass


def parse(variant: str, output: str) -> str:
    """The version in the package manager's answer; Unanswered when there is none."""
    found = ANSWER[variant].search(output)
    if not found or found.group(1) == "(none)":
        raise Unanswered("the base image's package index has no nginx")
    version = found.group(1)
    if not VERSION.fullmatch(version):
        raise Unanswered(f"the package index gave {version!r}, not a package version")
    return version


def ask(base: str, variant: str, platforms: Sequence[str] = ()) -> str:
    """The version every platform's index offers; one image is built for all of them with it."""
    answers = {platform: ask_one(base, variant, platform) for platform in platforms or [""]}
    if len(set(answers.values())) > 1:
        said = ", ".join(f"{platform}: {version}" for platform, version in answers.items())
        raise Unanswered(f"the platforms' indexes differ ({said}): an update not yet built for all of them; try again later")
    return next(iter(answers.values()))


def ask_one(base: str, variant: str, platform: str = "") -> str:
    name = f"aiohttp-nginx-version-{secrets.token_hex(6)}"
    command: List[str] = ["docker", "run", "--rm", "--name", name, *(["--platform", platform] if platform else [])]
    command += ["--entrypoint", "sh", base, "-c", ASK[variant]]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except FileNotFoundError:
        raise Unanswered("docker is not installed") from None
    except subprocess.TimeoutExpired:
        # the docker client is gone, not the container: remove it
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
        raise Unanswered(f"{base} did not answer within 300 s") from None
    if result.returncode != 0:
        said = [line for line in result.stderr.strip().splitlines() if line and "--help" not in line]
        raise Unanswered(f"{base} could not read its package index ({said[-1] if said else 'no output'})")
    return parse(variant, result.stdout)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tag", help="an image tag, e.g. python3.13 or python3.13-alpine")
    parser.add_argument("--base", help="the base image to ask (default: the tag's, from versions.json)")
    parser.add_argument(
        "--platform", action="append", default=[], help="a platform to ask, e.g. linux/amd64; repeated, all must agree"
    )
    args = parser.parse_args(argv)
    try:
        image = matrix.by_tag(matrix.images(), args.tag)
        print(ask(args.base or image.base, image.variant, args.platform))
    except (KeyError, Unanswered) as exc:
        reason = exc.args[0] if exc.args else str(exc)
        print(f"nginx_version.py: {args.tag}: {reason}; set NGINX_VERSION to build anyway (empty: unpinned)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
