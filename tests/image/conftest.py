"""Image tests: build `aiohttp-nginx:TAG` once per tag, run the scenarios as containers, remove every container after.

IMAGE_TAGS (space-separated, default python3.13) picks the tags; each test runs once per tag (its id is the tag).
REQUIRE_DOCKER=1 turns "no Docker engine" from a skip into a failure.

Long-running scenarios are services of one docker compose project per tag (pytest-docker's compose support): the
image itself for the read-only checks, and images built FROM it with a test app COPY'd to /app
(tests/image/scenarios/app.Dockerfile, build context tests/apps/<app>). Scenarios that end a container (exit on bad
input, failing import) use plain `docker run`. Everything started carries the label LABEL=SESSION and is removed at
the end of the session, whatever happened.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from tests.image.helpers import LABEL, SESSION, docker, exit_code, logs, tail
from tests.support import APPS, answers

ROOT = Path(__file__).resolve().parents[2]
APP_DOCKERFILE = Path(__file__).resolve().parent / "scenarios" / "app.Dockerfile"
TAGS: List[str] = os.environ.get("IMAGE_TAGS", "").split() or ["python3.13"]
IMAGE_REPO = os.environ.get("IMAGE", "aiohttp-nginx")
# The heaviest tests (thousands of connections, rolling updates, the browser, soak) run on one tag only, to keep
# CI's time bounded as tags are added; mark them @pytest.mark.heavy. HEAVY_TAG picks it (default python3.13 when
# tested, else the first tag).
HEAVY_TAG = os.environ.get("HEAVY_TAG") or ("python3.13" if "python3.13" in TAGS else TAGS[0])

# Every scenario container of a tag: (image, environment, extra compose options, the port the container listens on).
#   default  - the image as published, its own default app
#   full     - tests/apps/full with default settings (shared by the tests that only read)
#   tuned    - full with non-default nginx/gunicorn settings
#   crash    - full, two workers; a test crashes one
#   stop     - full; a test `docker stop`s it
#   nonroot / readonly / locked - the image under --user, --read-only and both plus --cap-drop ALL
NON_ROOT = {"user": "10001:10001"}
READ_ONLY = {"read_only": True, "tmpfs": ["/tmp"]}
SERVICES: Dict[str, Dict[str, Any]] = {
    "default": {"app": None, "env": {}, "options": {}, "port": 80},
    "full": {"app": "full", "env": {}, "options": {}, "port": 80},
    "tuned": {
        "app": "full",
        "env": {"LISTEN_PORT": "8080", "NGINX_MAX_UPLOAD": "1m", "NGINX_WORKER_PROCESSES": "3", "WEB_CONCURRENCY": "3"},
        "options": {},
        "port": 8080,
    },
    "crash": {"app": "full", "env": {"WEB_CONCURRENCY": "2"}, "options": {}, "port": 80},
    "stop": {"app": "full", "env": {}, "options": {}, "port": 80},
    "nonroot": {"app": None, "env": {"LISTEN_PORT": "8080"}, "options": NON_ROOT, "port": 8080},
    "readonly": {"app": None, "env": {}, "options": READ_ONLY, "port": 80},
    "locked": {"app": None, "env": {"LISTEN_PORT": "8080"}, "options": {**NON_ROOT, **READ_ONLY, "cap_drop": ["ALL"]}, "port": 8080},
}

def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    """A heavy test runs on HEAVY_TAG only; on other tags it is skipped, saying where it runs."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        tag = callspec.params.get("tag") if callspec is not None else None
        if item.get_closest_marker("heavy") and tag is not None and tag != HEAVY_TAG:
            item.add_marker(pytest.mark.skip(reason=f"heavy: runs on HEAVY_TAG={HEAVY_TAG} only"))


def remove_session_containers() -> None:
    try:
        ids = docker("ps", "-aq", "--filter", f"label={LABEL}={SESSION}", timeout=30, check=False).stdout.split()
        if ids:
            docker("rm", "-f", "-v", *ids, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        pass


atexit.register(remove_session_containers)  # the last resort: the fixture below normally does it first


@pytest.fixture(scope="session", autouse=True)
def _remove_containers_at_the_end() -> Iterator[None]:
    yield
    if shutil.which("docker"):
        remove_session_containers()
        # the test-app images this session replaced (a rebuilt base changes their id): only ours, by label
        docker("image", "prune", "-f", "--filter", f"label={LABEL}=image", timeout=120, check=False)


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A Docker engine that answers, else skip (or fail with REQUIRE_DOCKER=1)."""
    try:
        ok = subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        message = "no Docker engine answers `docker info`"
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(f"{message} (REQUIRE_DOCKER=1)", pytrace=False)
        pytest.skip(f"{message}: image tests skipped (REQUIRE_DOCKER=1 makes this a failure)")


@pytest.fixture(scope="session")
def docker_compose_command(docker_engine: None) -> str:
    """Compose v2 (`docker compose`) when the CLI has it, else the standalone v1 `docker-compose`."""
    try:
        probe = subprocess.run(["docker", "compose", "version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        v2 = probe.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        v2 = False
    if v2:
        return "docker compose"
    if shutil.which("docker-compose"):
        return "docker-compose"
    pytest.fail("neither `docker compose` nor `docker-compose` is installed", pytrace=False)
    return ""  # not reached


@pytest.fixture(scope="session", params=TAGS, ids=TAGS)
def tag(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def base_image_of(tag: str) -> str:
    """The base scripts/build.sh builds FROM: BASE_IMAGE if set, else the Dockerfile's default."""
    if os.environ.get("BASE_IMAGE"):
        return os.environ["BASE_IMAGE"]
    match = re.search(r"^ARG BASE_IMAGE=(\S+)", (ROOT / "docker-images" / f"{tag}.dockerfile").read_text(), re.M)
    assert match, f"docker-images/{tag}.dockerfile has no `ARG BASE_IMAGE=` default"
    return match[1]


@pytest.fixture(scope="session")
def image(tag: str, docker_engine: None) -> str:
    """`scripts/build.sh TAG`, once per session (docker's cache makes a rebuild quick)."""
    if not (ROOT / "docker-images" / f"{tag}.dockerfile").is_file():
        pytest.fail(f"IMAGE_TAGS names {tag!r} but there is no docker-images/{tag}.dockerfile", pytrace=False)
    base = base_image_of(tag)
    if docker("image", "inspect", base, timeout=30, check=False).returncode != 0:
        version = re.search(r"\d+\.\d+", tag)
        pytest.fail(f"base image {base} is missing: run scripts/local-base.sh {version[0] if version else 'X.Y'}", pytrace=False)
    started = time.monotonic()
    try:
        result = subprocess.run(
            [str(ROOT / "scripts" / "build.sh"), tag], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"scripts/build.sh {tag} took more than 30 minutes", pytrace=False)
    if result.returncode != 0:
        pytest.fail(f"scripts/build.sh {tag} exited with {result.returncode}:\n{tail(result.stdout)}", pytrace=False)
    print(f"\nbuilt {IMAGE_REPO}:{tag} in {time.monotonic() - started:.0f} s")
    return f"{IMAGE_REPO}:{tag}"


def build_app_image(image: str, tag: str, app: str) -> str:
    """An image the way a user makes one: FROM the image under test, the app COPY'd to /app."""
    ref = f"{IMAGE_REPO}-test-{app}:{tag}"  # named after $IMAGE: concurrent checkouts do not test each other's images
    result = docker(
        "build", "--quiet", "--file", str(APP_DOCKERFILE), "--build-arg", f"BASE={image}",
        "--label", f"{LABEL}=image", "--tag", ref, str(APPS / app), timeout=600, check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"building {ref} FROM {image} failed:\n{tail(result.stdout)}", pytrace=False)
    return ref


@pytest.fixture(scope="session")
def app_images(image: str, tag: str) -> Dict[str, str]:
    """Test-app images of this tag, by app name; None (the image itself) for the default app."""
    return {app: build_app_image(image, tag, app) for app in ("full", "broken")}


class Stack:
    """The running scenario containers of one tag."""

    def __init__(self, services: Any, project: str) -> None:
        self.services = services
        self.project = project
        self._ready: Dict[str, int] = {}

    def container(self, service: str) -> str:
        return f"{self.project}-{service}"

    def port(self, service: str) -> int:
        """The 127.0.0.1 port docker published for the service's LISTEN_PORT."""
        return int(self.services.port_for(service, SERVICES[service]["port"]))

    def ready(self, service: str, timeout: float = 60) -> int:
        """Wait until the service answers 200 at / through the published port; returns that port."""
        if service in self._ready:
            return self._ready[service]
        container = self.container(service)
        port = self.port(service)
        try:
            self.services.wait_until_responsive(check=lambda: answers(port) or exit_code(container) is not None, timeout=timeout, pause=0.2)
        except Exception:  # noqa: BLE001 - pytest-docker raises a bare Exception on timeout
            raise AssertionError(f"{service} did not answer within {timeout:g} s; its logs:\n{tail(logs(container))}") from None
        code = exit_code(container)
        if code is not None:
            raise AssertionError(f"{service} exited with {code} instead of serving; its logs:\n{tail(logs(container))}")
        self._ready[service] = port
        return port


def compose_file(tag: str, image: str, app_images: Dict[str, str], project: str) -> Dict[str, Any]:
    services = {}
    for name, spec in SERVICES.items():
        services[name] = {
            "image": app_images[spec["app"]] if spec["app"] else image,
            "container_name": f"{project}-{name}",
            "labels": {LABEL: SESSION, f"{LABEL}.tag": tag},
            "environment": spec["env"],
            "ports": [f"127.0.0.1::{spec['port']}"],
            **spec["options"],
        }
    # JSON is YAML: no YAML library needed to write it
    return {"version": "2.4", "services": services}


@pytest.fixture(scope="session")
def stack(
    tag: str, image: str, app_images: Dict[str, str], docker_compose_command: str, tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """All long-running scenario containers of this tag, started together; `docker compose down` at the end."""
    try:
        from pytest_docker.plugin import get_docker_services
    except ImportError:
        pytest.fail("pytest-docker is not installed (pip install -e '.[test]')", pytrace=False)
    project = "ainbtest" + re.sub(r"[^a-z0-9]", "", f"{os.getpid()}{tag}".lower())
    path = tmp_path_factory.mktemp(f"compose-{tag}") / "docker-compose.yml"
    path.write_text(json.dumps(compose_file(tag, image, app_images, project), indent=2))
    # `up --wait` is compose v2 only; readiness is polled per service instead (Stack.ready)
    with get_docker_services(docker_compose_command, str(path), project, ["up -d"], ["down -v -t 5 --remove-orphans"]) as services:
        yield Stack(services, project)


@pytest.fixture
def run_container() -> Iterator[Any]:
    """`docker run -d` a labelled container; removed after the test."""
    started: List[str] = []

    def run(image: str, *options: str, args: Optional[List[str]] = None) -> str:
        name = f"ainbtest-{SESSION}-{len(started)}-{os.urandom(3).hex()}"
        docker("run", "-d", "--name", name, "--label", f"{LABEL}={SESSION}", *options, image, *(args or []), timeout=60)
        started.append(name)
        return name

    yield run
    if started:
        docker("rm", "-f", "-v", *started, timeout=120, check=False)
