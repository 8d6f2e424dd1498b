"""The release's dry run: both distributions built, twine-checked, installed into a fresh venv and run (scripts/release_check.py)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict

import pytest

from tests.extras import missing

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "release_check.py"


def test_a_tag_that_does_not_name_the_version_is_refused_before_building(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--tag", "v9.9.9", "--outdir", str(tmp_path / "dist")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.startswith("release check: tag 'v9.9.9' does not name the version ") and result.stderr.count("\n") == 1
    assert not (tmp_path / "dist").exists()


def test_both_distributions_build_check_install_and_run(tmp_path: Path) -> None:
    if importlib.util.find_spec("build") is None or not (
        shutil.which("twine", path=str(Path(sys.executable).parent)) or shutil.which("twine")
    ):
        missing("build and twine", "lint")
    out = tmp_path / "dist"
    result = subprocess.run([sys.executable, str(SCRIPT), "--outdir", str(out)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert "built, twine-checked, installed and run" in result.stdout
    assert sorted(p.suffix for p in out.iterdir()) == [".gz", ".gz", ".whl", ".whl"]


# --- the release workflow and the image tags it adds


def release_workflow() -> Dict[str, Any]:
    yaml = pytest.importorskip("yaml")  # PyYAML, in the test extra
    workflow: Dict[str, Any] = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    return workflow


def test_the_release_workflow_checks_publishes_then_tags_images() -> None:
    workflow = release_workflow()
    assert workflow[True] == {"push": {"tags": ["v*"]}}  # YAML reads the key `on` as True
    jobs = workflow["jobs"]
    build_runs = " ".join(s.get("run", "") for s in jobs["build"]["steps"])
    assert 'python scripts/release_check.py --tag "$TAG" --outdir dist' in build_runs
    assert jobs["pypi"]["needs"] == "build" and jobs["pypi"]["permissions"] == {"id-token": "write"}
    assert jobs["pypi"]["environment"]["name"] == "pypi"
    assert any(str(s.get("uses", "")).startswith("pypa/gh-action-pypi-publish@") for s in jobs["pypi"]["steps"])
    assert "password" not in json.dumps(jobs["pypi"])  # trusted publishing: no token
    assert jobs["images"]["needs"] == "pypi" and "id-token" not in jobs["images"]["permissions"]
    image_runs = " ".join(s.get("run", "") for s in jobs["images"]["steps"])
    assert 'python3 scripts/release_images.py --version "${TAG#v}" --revision "$GITHUB_SHA"' in image_runs


def test_release_images_dry_run_tags_every_image_in_every_registry() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import matrix

    registries = ["docker.io/ns/aiohttp-nginx", "ghcr.io/ns/aiohttp-nginx"]
    argv = [sys.executable, "scripts/release_images.py", "--version", "0.1.0", "--revision", "a" * 40, "--dry-run"]
    for registry in registries:
        argv += ["--registry", registry]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    expected = [
        f"skopeo copy --all --preserve-digests docker://{r}:{i.tag} docker://{r}:{i.tag}-0.1.0" for i in matrix.images() for r in registries
    ]
    assert result.stdout.splitlines() == expected


def test_release_images_waits_for_the_commit_and_gives_up_at_the_deadline() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import release_images

    seen = iter(["0" * 40, None, "b" * 40])
    assert release_images.wait_for("r", "t", "b" * 40, wait=5, read=lambda r, t: next(seen), interval=0.01) is None
    started = time.monotonic()
    assert release_images.wait_for("r", "t", "b" * 40, wait=0.3, read=lambda r, t: "0" * 40, interval=0.05) == "0" * 40
    assert time.monotonic() - started < 5


def test_release_images_refuses_a_version_that_is_not_semver() -> None:
    argv = [sys.executable, "scripts/release_images.py", "--version", "v0.1", "--revision", "a" * 40, "--registry", "r", "--dry-run"]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == "" and result.stderr.count("\n") == 1
