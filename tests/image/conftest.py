"""Image tests: build `aiohttp-nginx:TAG` once per tag, run the scenarios as containers, remove every container after.

IMAGE_TAGS (space-separated, default python3.13) picks the tags; each test runs once per tag (its id is the tag).
REQUIRE_DOCKER=1 turns "no Docker engine" from a skip into a failure.

Long-running scenarios are services of one docker compose project per tag (pytest-docker's compose support): the
image itself for the read-only checks, and images built FROM it with a test app COPY'd to /app
(tests/image/scenarios/app.Dockerfile, build context tests/apps/<app>). Scenarios that end a container (exit on bad
input, failing import) use plain `docker run`. Everything started carries the label LABEL=SESSION and is removed at
the end of the session, whatever happened.

The container harness is the test kit's (pytest_aiohttp_nginx, this repository's pytest-aiohttp-nginx): the docker
command, the no-Docker skip (`docker_engine`), the app image build and the readiness loop (`Stack.ready`).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from pytest_aiohttp_nginx.container import LABEL as KIT_LABEL
from pytest_aiohttp_nginx.container import build_app_image as build_image
from pytest_aiohttp_nginx.docker import ContainerError
from pytest_aiohttp_nginx.ready import wait_ready

from tests.image.helpers import LABEL, SESSION, TAGS, build_checkout_image, docker
from tests.support import APPS

APP_DOCKERFILE = Path(__file__).resolve().parent / "scenarios" / "app.Dockerfile"
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
    "approot": {"app": "full", "env": {"APP_USER": "root"}, "options": {}, "port": 80},
    "appnonroot": {"app": "full", "env": {"LISTEN_PORT": "8080"}, "options": {**NON_ROOT, **READ_ONLY, "cap_drop": ["ALL"]}, "port": 8080},
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
    except (OSError, ContainerError):
        pass


atexit.register(remove_session_containers)  # the last resort: the fixture below normally does it first


@pytest.fixture(scope="session", autouse=True)
def _remove_containers_at_the_end() -> Iterator[None]:
    yield
    if shutil.which("docker"):
        remove_session_containers()
        # the test-app images this session replaced (a rebuilt base changes their id): the test kit's, by label
        docker("image", "prune", "-f", "--filter", f"label={KIT_LABEL}=image", timeout=120, check=False)


@pytest.fixture(scope="session")
def docker_engine(aiohttp_nginx_docker: None) -> None:
    """A Docker engine that answers, else skip (or fail with REQUIRE_DOCKER=1): the test kit's check."""


@pytest.fixture(scope="session")
def docker_compose_command(docker_engine: None) -> str:
    """Compose v2 (`docker compose`) when the CLI has it, else the standalone v1 `docker-compose`."""
    if docker("compose", "version", timeout=30, check=False).returncode == 0:
        return "docker compose"
    if shutil.which("docker-compose"):
        return "docker-compose"
    pytest.fail("neither `docker compose` nor `docker-compose` is installed", pytrace=False)
    return ""  # not reached


@pytest.fixture(scope="session", params=TAGS, ids=TAGS)
def tag(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def image(tag: str, docker_engine: None) -> str:
    """`scripts/build.sh TAG`, once per session (docker's cache makes a rebuild quick)."""
    return build_checkout_image(tag)


def build_app_image(image: str, tag: str, app: str) -> str:
    """An image the way a user makes one: FROM the image under test (`$IMAGE:TAG`), the app COPY'd to /app.

    The test kit's build: tagged by a hash of its inputs, the image's name (`$IMAGE:TAG`, so `tag` adds nothing)
    among them, so concurrent checkouts with their own $IMAGE do not test each other's images.
    """
    return build_image(image, APPS / app, APP_DOCKERFILE)


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
        port = self.port(service)
        wait_ready(port, timeout=timeout, accept=lambda status, _: status == 200, container=self.container(service))
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
