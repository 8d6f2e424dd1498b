"""pytest plugin: test your app the way it runs in production, in the aiohttp-nginx image behind nginx.

Installed (``pip install pytest-aiohttp-nginx``), pytest loads it by itself (entry point ``aiohttp_nginx``; turn it
off with ``-p no:aiohttp_nginx``). Then::

    def test_home(aiohttp_nginx_url: str) -> None:
        assert urllib.request.urlopen(aiohttp_nginx_url + "/").status == 200

Fixtures:

- ``aiohttp_nginx_url``: the base URL (``http://127.0.0.1:PORT``) of your app running in a container.
- ``aiohttp_nginx_container``: a factory, ``start(app_dir=None, *, dockerfile=None, env=None, docker_args=(),
  timeout=None) -> AiohttpNginxContainer``, for more than one container, other settings or your own Dockerfile.
- ``aiohttp_nginx_image``: the image to build FROM; override it to build or pick one yourself.
- ``aiohttp_nginx_docker``: a Docker engine that answers, else the test is skipped (failed with REQUIRE_DOCKER=1).

Your app directory is copied to /app of an image built ``FROM`` the base image (a generated two-line Dockerfile), or
your own Dockerfile is built (with ``--build-arg BASE=<image>``, so ``ARG BASE`` + ``FROM ${BASE}`` follows the choice).
The container publishes its LISTEN_PORT on 127.0.0.1 only and counts as started once a request to HEALTHCHECK_PATH
through nginx answers below 500 (what ``aiohttp-nginx healthcheck`` checks). It is removed after the test; when the
test fails, its logs are added to the report.

Configuration (ini file, ``[pytest]`` or ``[tool.pytest.ini_options]``):

- ``aiohttp_nginx_image``: base image, default ``aiohttp-nginx:python3.13``; the environment variable
  ``AIOHTTP_NGINX_IMAGE`` wins (so CI can test other tags without editing the config).
- ``aiohttp_nginx_app``: the app directory, relative to the ini file, default ``app``.
- ``aiohttp_nginx_timeout``: seconds a container gets to answer, default 60.

Only the ``docker`` command is used (no Docker SDK). Built images are kept (tagged ``aiohttp-nginx-pytest/<dir>:<hash>``)
so that Docker's cache makes the next run fast.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Dict, Generator, Iterator, List, Mapping, Optional, Sequence, Union

import pytest

from pytest_aiohttp_nginx.container import LABEL, AiohttpNginxContainer, ContainerFactory, build_app_image
from pytest_aiohttp_nginx.docker import ContainerError, docker, engine_answers, image_env, tail

DEFAULT_IMAGE = "aiohttp-nginx:python3.13"
IMAGE_ENV = "AIOHTTP_NGINX_IMAGE"

_containers_key = pytest.StashKey[List[AiohttpNginxContainer]]()
_built_key = pytest.StashKey[Dict[str, str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("aiohttp_nginx_image", f"aiohttp-nginx image to build the app on ({IMAGE_ENV} wins)", default=DEFAULT_IMAGE)
    parser.addini("aiohttp_nginx_app", "app directory copied to /app, relative to the ini file", default="app")
    parser.addini("aiohttp_nginx_timeout", "seconds a container gets to answer through nginx", default="60")


@pytest.fixture(scope="session")
def aiohttp_nginx_docker() -> None:
    """A Docker engine that answers `docker info`, else skip (fail with REQUIRE_DOCKER=1)."""
    if engine_answers():
        return
    message = "no Docker engine answers `docker info`"
    if os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail(f"{message} (REQUIRE_DOCKER=1)", pytrace=False)
    pytest.skip(f"{message}: tests using containers skipped (REQUIRE_DOCKER=1 makes this a failure)")


@pytest.fixture(scope="session")
def aiohttp_nginx_image(pytestconfig: pytest.Config, aiohttp_nginx_docker: None) -> str:
    """The base image apps are built FROM: $AIOHTTP_NGINX_IMAGE, else the ini option, else aiohttp-nginx:python3.13."""
    return os.environ.get(IMAGE_ENV) or str(pytestconfig.getini("aiohttp_nginx_image")) or DEFAULT_IMAGE


def _ini_dir(config: pytest.Config) -> Path:
    return Path(config.inipath).parent if config.inipath else Path(config.rootpath)


@pytest.fixture
def aiohttp_nginx_container(
    request: pytest.FixtureRequest, pytestconfig: pytest.Config, aiohttp_nginx_image: str
) -> Iterator[ContainerFactory]:
    """Factory: build the app on the image, start it, wait until it answers; every container is removed after the test.

    start(app_dir=None, *, dockerfile=None, env=None, docker_args=(), timeout=None)
      app_dir      the build context; default: the ini option aiohttp_nginx_app (./app)
      dockerfile   your own Dockerfile (built with --build-arg BASE=<image>); default: FROM <image> + COPY . /app
      env          container environment (LISTEN_PORT here decides the port that is published)
      docker_args  more `docker run` options, e.g. ["--read-only", "--tmpfs", "/tmp", "--user", "10001"]
      timeout      seconds to answer, default the ini option aiohttp_nginx_timeout (60)
    """
    started: List[AiohttpNginxContainer] = request.node.stash.setdefault(_containers_key, [])
    session = f"{os.getpid()}"

    def start(
        app_dir: Union[str, os.PathLike[str], None] = None,
        *,
        dockerfile: Union[str, os.PathLike[str], None] = None,
        env: Optional[Mapping[str, str]] = None,
        docker_args: Sequence[str] = (),
        timeout: Optional[float] = None,
    ) -> AiohttpNginxContainer:
        context = (_ini_dir(pytestconfig) / (app_dir or str(pytestconfig.getini("aiohttp_nginx_app")))).resolve()
        if not context.is_dir():
            raise ContainerError(f"app directory {context} does not exist (ini option aiohttp_nginx_app, or start(app_dir))")
        built = pytestconfig.stash.setdefault(_built_key, {})
        image = build_app_image(aiohttp_nginx_image, context, Path(dockerfile).resolve() if dockerfile else None, built)
        env = dict(env or {})
        defaults = image_env(image)
        port = int(env.get("LISTEN_PORT") or defaults.get("LISTEN_PORT") or 80)
        container = AiohttpNginxContainer(
            name=f"{LABEL}-{session}-{uuid.uuid4().hex[:8]}",
            image=image,
            container_port=port,
            healthcheck_path=env.get("HEALTHCHECK_PATH") or defaults.get("HEALTHCHECK_PATH") or "/",
            timeout=float(timeout if timeout is not None else pytestconfig.getini("aiohttp_nginx_timeout")),
        )
        options = [f"--env={key}={value}" for key, value in env.items()]
        started.append(container)  # before `run`: a container that fails to start is still removed and reported
        docker(
            "run", "--detach", "--name", container.name, "--label", f"{LABEL}={session}",
            "--publish", f"127.0.0.1::{port}", *options, *docker_args, image, timeout=120,
        )  # fmt: skip
        container.wait_ready()
        return container

    try:
        yield start
    finally:
        for container in started:
            container.remove()


@pytest.fixture
def aiohttp_nginx_url(aiohttp_nginx_container: ContainerFactory) -> str:
    """Base URL, http://127.0.0.1:PORT, of the app (ini option aiohttp_nginx_app) running in the image."""
    return aiohttp_nginx_container().url


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A failed test's report gets the logs of its containers (taken before they are removed at teardown)."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.failed or report.when == "teardown":
        return
    for container in item.stash.get(_containers_key, []):
        if container.removed:
            continue
        try:
            text = tail(container.logs()) or "(no output)"
        except ContainerError as exc:
            text = f"(could not read the logs: {exc})"
        report.sections.append((f"aiohttp-nginx container {container.name} ({container.image}) logs", text))
