"""The GitHub Actions workflows: linters, the matrix they build, and scripts/push.sh."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = str(Path(sys.executable).parent)
sys.path.insert(0, str(ROOT / "scripts"))

import matrix  # noqa: E402

from tests.extras import missing  # noqa: E402

yaml = pytest.importorskip("yaml")
Entry = Dict[str, Any]
Job = Dict[str, Any]


def tool(name: str) -> str:
    found = shutil.which(name, path=BIN) or shutil.which(name)
    if found is None:
        missing(name, "lint")
    return found


def workflows() -> Dict[str, Dict[str, Any]]:
    return {path.name: yaml.safe_load(path.read_text()) for path in sorted(WORKFLOWS.glob("*.yml"))}


def steps(workflow: Dict[str, Any]) -> Iterator[Tuple[str, Dict[str, Any]]]:
    for name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield name, step


def test_actionlint_finds_nothing() -> None:
    # actionlint runs shellcheck on the run: scripts when it finds it: the one of the lint extra
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    result = subprocess.run([tool("actionlint"), "-no-color"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing() -> None:
    result = subprocess.run([tool("zizmor"), "--offline", str(WORKFLOWS)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_exist() -> None:
    assert set(workflows()) >= {"test.yml", "publish.yml", "release.yml"}


# --- the images the workflows build are exactly those of the matrix


def expand(value: Any, entry: Entry) -> str:
    """A `with:` value as it is for one matrix entry."""
    return re.sub(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", lambda m: str(entry[m[1]]), str(value))


def matrix_source(workflow: Dict[str, Any], job: Job) -> List[Entry]:
    """The entries of a job whose matrix is `fromJSON(needs.X.outputs.matrix)`, checked to come from matrix.py json."""
    spec = job["strategy"]["matrix"]
    assert isinstance(spec, str), f"a hard-coded matrix: {spec}"
    found = re.fullmatch(r"\$\{\{\s*fromJSON\(needs\.(\w+)\.outputs\.(\w+)\)\s*\}\}", spec)
    assert found, spec
    producer = workflow["jobs"][found[1]]
    output = re.fullmatch(r"\$\{\{\s*steps\.(\w+)\.outputs\.(\w+)\s*\}\}", producer["outputs"][found[2]])
    assert output, producer["outputs"]
    step = next(s for s in producer["steps"] if s.get("id") == output[1])
    assert f'echo "{output[2]}=$(python3 scripts/matrix.py json)" >> "$GITHUB_OUTPUT"' in step["run"]
    entries: List[Entry] = json.loads(
        subprocess.run([sys.executable, "scripts/matrix.py", "json"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    )["include"]
    return entries


def built(workflow: Dict[str, Any], job: Job, entry: Entry) -> Set[Tuple[str, str, str]]:
    """(tag, dockerfile, base) of every docker/build-push-action step of the job, for one entry."""
    result: Set[Tuple[str, str, str]] = set()
    meta: Dict[str, Dict[str, Any]] = {s["id"]: s for s in job["steps"] if "id" in s}
    for step in job["steps"]:
        if not str(step.get("uses", "")).startswith("docker/build-push-action@"):
            continue
        options = step["with"]
        args = dict(line.split("=", 1) for line in expand(options.get("build-args", ""), entry).splitlines() if line)
        # no BASE_IMAGE build arg: the Dockerfile's own default, written by generate.py from the matrix
        dockerfile = expand(options["file"], entry)
        base = args.get("BASE_IMAGE") or re.search(r"^ARG BASE_IMAGE=(\S+)$", (ROOT / dockerfile).read_text(), re.M)[1]  # type: ignore[index]
        base = base.split("@")[0]  # pinned to the digest the build resolved
        tags = expand(options["tags"], entry)
        computed = re.fullmatch(r"\$\{\{\s*steps\.(\w+)\.outputs\.tags\s*\}\}", tags)
        if computed:
            # pushed tags: one call of matrix.py tags for this entry, the same code path as push.sh
            producer = meta[computed[1]]
            assert "scripts/matrix.py tags" in producer["run"] and '--image "$TAG"' in producer["run"]
            tag = expand(producer["env"]["TAG"], entry)
        else:
            tag = tags.split(":", 1)[1]
        result.add((tag, dockerfile, base))
    return result


@pytest.mark.parametrize("name", ["test.yml", "publish.yml"])
def test_workflow_builds_exactly_the_matrix(name: str) -> None:
    workflow = workflows()[name]
    expected = {(i.tag, i.dockerfile, i.base) for i in matrix.images()}
    image_jobs = [
        job for job in workflow["jobs"].values() if any("docker/build-push-action@" in str(s.get("uses")) for s in job.get("steps", []))
    ]
    assert image_jobs
    for job in image_jobs:
        found: Set[Tuple[str, str, str]] = set()
        for entry in matrix_source(workflow, job):
            images = built(workflow, job, entry)
            assert len(images) == 1, images  # every build step of one entry builds the same image
            found |= images
        assert found == expected


def test_workflows_hard_code_no_image() -> None:
    for name, workflow in workflows().items():
        text = json.dumps(workflow)  # without the comments, which may name the matrix file
        assert not re.search(r"python3\.\d+|docker-images/python|-slim-|alpine3\.\d+|python:3", text), name


# --- hardening that the linters do not all insist on


def test_actions_are_pinned_to_a_commit_with_its_version() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        for line in path.read_text().splitlines():
            if "uses:" in line:
                assert re.search(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), f"{path.name}: {line.strip()}"


def test_least_privilege_and_no_expansion_in_scripts() -> None:
    for name, workflow in workflows().items():
        assert workflow["permissions"] == {}, name
        for job_name, job in workflow["jobs"].items():
            assert "permissions" in job, f"{name}: {job_name}"
            if "id-token" in job["permissions"]:
                assert (name, job_name) in {("release.yml", "pypi"), ("publish.yml", "push")}
        for job_name, step in steps(workflow):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{name}: {job_name}"
            assert "${{" not in step.get("run", ""), f"{name}: {job_name}: {step['run']}"
            uses: Optional[str] = step.get("uses")
            if "secrets." in json.dumps(step):
                assert uses and uses.split("@")[0] in ("docker/login-action", "peter-evans/dockerhub-description"), f"{name}: {job_name}"


# --- scripts/push.sh


def dry_run(*tags: str) -> List[str]:
    env = {**os.environ, "REGISTRIES": "docker.io/ns/aiohttp-nginx ghcr.io/ns/aiohttp-nginx", "DATE": "2026-11-26"}
    result = subprocess.run(["sh", "scripts/push.sh", "--dry-run", *tags], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_push_dry_run_debian_and_alpine() -> None:
    lines = dry_run("python3.12", "python3.12-alpine")
    for registry in ("docker.io/ns/aiohttp-nginx", "ghcr.io/ns/aiohttp-nginx"):
        for tag in ("python3.12", "python3.12-2026-11-26"):
            assert f"docker tag aiohttp-nginx:python3.12 {registry}:{tag}" in lines
            assert f"docker push {registry}:{tag}" in lines
        for tag in ("python3.12-alpine", "python3.12-alpine-2026-11-26"):
            assert f"docker tag aiohttp-nginx:python3.12-alpine {registry}:{tag}" in lines
            assert f"docker push {registry}:{tag}" in lines
    assert len(lines) == 2 * 2 * 4


def test_push_dry_run_covers_the_matrix_and_latest_once_per_registry() -> None:
    lines = dry_run()
    pushed = {line.split()[-1] for line in lines if line.startswith("docker push ")}
    expected = set(
        subprocess.run(
            [
                sys.executable,
                "scripts/matrix.py",
                "tags",
                "--date",
                "2026-11-26",
                "--registry",
                "docker.io/ns/aiohttp-nginx",
                "--registry",
                "ghcr.io/ns/aiohttp-nginx",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    )
    assert pushed == expected
    top = matrix.latest(matrix.images()).tag
    assert f"docker tag aiohttp-nginx:{top} docker.io/ns/aiohttp-nginx:latest" in lines
    assert sum(line.endswith(":latest") and line.startswith("docker push ") for line in lines) == 2


def test_push_refuses_an_unknown_tag_before_pushing() -> None:
    env = {**os.environ, "REGISTRIES": "r.example/x", "DATE": "2026-11-26"}
    result = subprocess.run(
        ["sh", "scripts/push.sh", "--dry-run", "python3.12", "python2.7"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2 and result.stdout == "" and "python2.7" in result.stderr


# --- publishing you can verify


def test_publish_pushes_the_tested_archive_from_a_job_that_installs_nothing() -> None:
    jobs = workflows()["publish.yml"]["jobs"]
    build, push = jobs["build"], jobs["push"]
    assert "secrets." not in json.dumps(build), "the job that runs the tests holds no secrets"
    assert set(build["permissions"]) == {"contents"}
    built = next(s for s in build["steps"] if str(s.get("uses", "")).startswith("docker/build-push-action@"))
    assert built["with"]["outputs"] == "type=oci,dest=image.tar"
    assert built["with"]["sbom"] is True and built["with"]["provenance"] == "mode=max"
    assert "linux/amd64" in built["with"]["platforms"] and "linux/arm64" in built["with"]["platforms"]
    assert any("oci-archive:image.tar" in s.get("run", "") for s in build["steps"])  # the tests get the archive's image
    assert push["needs"] == ["matrix", "build"]
    runs = " ".join(s.get("run", "") for s in push["steps"])
    assert "pip install" not in runs and "docker build" not in runs and "apt-get" not in runs
    assert not any(str(s.get("uses", "")).startswith(("docker/build-push-action@", "actions/setup-python@")) for s in push["steps"])
    assert "skopeo copy --all --preserve-digests oci-archive:image.tar" in runs
    assert 'cosign sign --yes "$repository@$digest"' in runs
    assert push["permissions"]["id-token"] == "write"


def test_the_base_digest_is_recorded() -> None:
    build = workflows()["publish.yml"]["jobs"]["build"]
    built = next(s for s in build["steps"] if str(s.get("uses", "")).startswith("docker/build-push-action@"))
    assert "BASE_DIGEST=${{ steps.meta.outputs.base-digest }}" in built["with"]["build-args"]
    image = matrix.images()[0]
    assert 'org.opencontainers.image.base.digest="${BASE_DIGEST}"' in (ROOT / image.dockerfile).read_text()


def test_dependabot_watches_actions_and_locks() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    watched = {(u["package-ecosystem"], u["directory"]) for u in config["updates"]}
    assert {("github-actions", "/"), ("pip", "/requirements")} <= watched


def test_the_compatibility_matrix_covers_every_python_at_both_ends() -> None:
    workflow = workflows()["test.yml"]
    job = workflow["jobs"]["compatibility"]
    assert job["strategy"]["matrix"]["python"] == "${{ fromJSON(needs.matrix.outputs.pythons) }}"
    assert job["strategy"]["matrix"]["resolution"] == ["lowest-direct", "highest"]
    producer = next(s for s in workflow["jobs"]["matrix"]["steps"] if s.get("id") == "pythons")
    assert "python3 scripts/matrix.py pythons" in producer["run"]
    runs = " ".join(s.get("run", "") for s in job["steps"])
    assert '--resolution "$RESOLUTION" --only-binary :all: --reinstall -r pyproject.toml' in runs
    assert "tests/unit tests/host" in runs
