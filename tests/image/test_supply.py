"""What is inside an image is named and fixed: labels and --version agree, the lock decides the package set."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from tests.image.helpers import IMAGE_REPO, ROOT, base_image_of, docker, tail

sys.path.insert(0, str(ROOT / "scripts"))
import lock  # noqa: E402
import matrix  # noqa: E402

pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]

# Every installed distribution and its RECORD (the file list with each file's hash as the wheel shipped it).
INSTALLED = """
import json
from importlib import metadata
print(json.dumps(sorted((d.metadata["Name"].lower(), d.version, d.read_text("RECORD") or "") for d in metadata.distributions())))
"""


def labels(image: str) -> Dict[str, str]:
    return dict(json.loads(docker("image", "inspect", "-f", "{{json .Config.Labels}}", image).stdout))


def installed(image: str) -> list:
    return json.loads(docker("run", "--rm", "--entrypoint", "python3", image, "-c", INSTALLED, timeout=120).stdout)


def test_labels_and_version_name_the_exact_versions_inside(image: str) -> None:
    version = docker("run", "--rm", image, "aiohttp-nginx", "--version", timeout=120).stdout
    listed = dict(line.split(" ", 1) for line in version.splitlines())
    assert set(listed) == {"aiohttp-nginx-base", "python", "nginx", "aiohttp", "gunicorn", "supervisor", "uvloop"}
    assert "not installed" not in listed.values(), listed
    found = labels(image)
    for name in ("python", "aiohttp", "gunicorn", "supervisor", "uvloop"):
        assert found[f"org.aiohttp-nginx-base.{name}"] == listed[name], name
    # nginx -v, as the image's own nginx says it
    nginx = docker("run", "--rm", "--entrypoint", "nginx", image, "-v", timeout=120)
    assert f"nginx/{listed['nginx']}" in nginx.stdout  # the helper folds stderr into stdout


def test_the_nginx_label_names_the_package_installed(image: str) -> None:
    # scripts/build.sh asked the base's package index (scripts/nginx_version.py); the build installed exactly that
    label = labels(image)["org.aiohttp-nginx-base.nginx"]
    assert label != "unpinned", "built without NGINX_VERSION"
    upstream = re.match(r"(?:\d+:)?(\d+(?:\.\d+)+)-", label)
    assert upstream, label
    version = docker("run", "--rm", image, "aiohttp-nginx", "--version", timeout=120).stdout
    assert f"nginx {upstream.group(1)}" in version.splitlines(), (label, version)
    # Debian's package manager, where it is the one used (Alpine's is checked in GitHub Actions by the label above)
    query = docker("run", "--rm", "--entrypoint", "sh", image, "-c", "dpkg-query -W -f='${Version}' nginx || echo no-dpkg", timeout=120)
    if "no-dpkg" not in query.stdout:
        assert query.stdout.strip() == label


def test_the_image_holds_exactly_the_locked_packages(image: str, tag: str) -> None:
    runtime, _ = lock.image_locks(matrix.by_tag(matrix.images(), tag))
    locked = lock.pins((ROOT / runtime).read_text())
    present = {lock.canonical(name): version for name, version, _ in installed(image)}
    for name, version in locked.items():
        if name in ("async-timeout", "typing-extensions") and name not in present:
            continue  # pinned for older Pythons only (markers)
        assert present.get(name) == version, name
    # what the base image brings (pip; setuptools up to 3.11; a Debian python3's own packages) is the base's
    base = {lock.canonical(name) for name, _, _ in installed(base_image_of(tag))}
    extra = set(present) - set(locked) - base - {"aiohttp-nginx-base"}
    assert not extra, f"installed but neither locked nor from the base image: {extra}"


@pytest.mark.slow
@pytest.mark.heavy
def test_two_builds_of_one_commit_install_the_same_package_set(image: str, tag: str) -> None:
    """A second build without docker's cache (so pip resolves and downloads again) installs identical distributions."""
    rebuilt = f"{IMAGE_REPO}-rebuild"
    result = subprocess.run(
        [str(ROOT / "scripts" / "build.sh"), tag, "--no-cache"],
        cwd=ROOT,
        env={**os.environ, "IMAGE": rebuilt},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, tail(result.stdout)
    try:
        assert installed(f"{rebuilt}:{tag}") == installed(image)
    finally:
        docker("image", "rm", f"{rebuilt}:{tag}", timeout=120, check=False)


def test_lock_files_are_in_the_build_context() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "!requirements/" in ignored and Path(ROOT / "requirements").is_dir()
