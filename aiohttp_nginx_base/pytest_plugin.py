"""pytest plugin: test your app the way it runs in production, in the aiohttp-nginx image behind nginx.

Not registered automatically; enable it where you want it::

    # conftest.py (the top-level one) or a test module
    pytest_plugins = ["aiohttp_nginx_base.pytest_plugin"]

or ``pytest -p aiohttp_nginx_base.pytest_plugin``. Then::

    def test_home(aiohttp_nginx_url: str) -> None:
        assert urllib.request.urlopen(aiohttp_nginx_url + "/").status == 200

Fixtures:

- ``aiohttp_nginx_url``: the base URL (``http://127.0.0.1:PORT``) of your app running in a container.
- ``aiohttp_nginx_container``: a factory, ``start(app_dir=None, *, dockerfile=None, env=None, docker_args=(),
  timeout=None) -> AiohttpNginxContainer``, for more than one container, other settings or your own Dockerfile.
- ``aiohttp_nginx_image``: the image to build FROM; override it to build or pick one yourself.

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

Only the ``docker`` command is used (no Docker SDK). Without a Docker engine the tests that use these fixtures are
skipped, or fail when ``REQUIRE_DOCKER=1``. Built images are kept (tagged ``aiohttp-nginx-pytest/<dir>:<hash>``) so
that Docker's cache makes the next run fast.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Generator, Iterator, List, Mapping, Optional, Sequence, Union

import pytest

DEFAULT_IMAGE = "aiohttp-nginx:python3.13"
IMAGE_ENV = "AIOHTTP_NGINX_IMAGE"
LABEL = "aiohttp-nginx-pytest"
LOG_LINES = 200  # of a failed test's container logs in the report

_containers_key = pytest.StashKey[List["AiohttpNginxContainer"]]()
_built_key = pytest.StashKey[Dict[str, str]]()


class ContainerError(AssertionError):
    """The image did not build, or the container did not come up: the message carries docker's output."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("aiohttp_nginx_image", f"aiohttp-nginx image to build the app on ({IMAGE_ENV} wins)", default=DEFAULT_IMAGE)
    parser.addini("aiohttp_nginx_app", "app directory copied to /app, relative to the ini file", default="app")
    parser.addini("aiohttp_nginx_timeout", "seconds a container gets to answer through nginx", default="60")


# --- docker


def _docker(*args: str, timeout: float = 60, input: Optional[str] = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`docker ARGS` with stdout and stderr captured together; raises ContainerError with them when `check`."""
    try:
        result = subprocess.run(
            ["docker", *args],
            input=input,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise ContainerError(f"`docker {' '.join(args)}` took more than {timeout:g} s") from exc
    if check and result.returncode != 0:
        raise ContainerError(f"`docker {' '.join(args)}` exited with {result.returncode}:\n{result.stdout}")
    return result


def _tail(text: str, lines: int = LOG_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _image_env(image: str) -> Dict[str, str]:
    """The ENV of an image (its defaults: LISTEN_PORT, HEALTHCHECK_PATH, ...)."""
    out = _docker("image", "inspect", "--format", "{{json .Config.Env}}", image).stdout.strip().splitlines()
    raw = json.loads(out[-1] if out else "null") or []  # the last line: a CLI warning may come first
    return dict(item.split("=", 1) for item in raw if "=" in item)


def _status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path, headers={"User-Agent": "aiohttp-nginx-pytest"})
        return conn.getresponse().status
    finally:
        conn.close()


# --- containers


@dataclass
class AiohttpNginxContainer:
    """A running container of the app; `url` is where the test reaches it."""

    name: str
    image: str
    container_port: int
    healthcheck_path: str
    timeout: float
    host_port: int = 0
    removed: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.host_port}"

    def logs(self) -> str:
        """Everything the container wrote, stdout and stderr interleaved."""
        return _docker("logs", self.name, timeout=30, check=False).stdout

    def state(self) -> Dict[str, object]:
        result = json.loads(_docker("inspect", "--format", "{{json .State}}", self.name, timeout=30).stdout)
        return dict(result)

    def exec(self, *command: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command in the container, e.g. exec("aiohttp-nginx", "config")."""
        return _docker("exec", self.name, *command, timeout=timeout, check=check)

    def healthcheck(self) -> bool:
        """What the image's HEALTHCHECK and Kubernetes probes run: `aiohttp-nginx healthcheck`."""
        return self.exec("aiohttp-nginx", "healthcheck", timeout=30, check=False).returncode == 0

    def restart(self, stop_timeout: int = 10) -> None:
        """`docker restart` (prestart.sh runs again), then wait until it answers; the published port may change."""
        _docker("restart", "--time", str(stop_timeout), self.name, timeout=stop_timeout + 60)
        self.host_port = 0
        self.wait_ready()

    def stop(self, stop_timeout: int = 10) -> int:
        """`docker stop` (SIGTERM, SIGKILL after `stop_timeout`); returns the exit status."""
        _docker("stop", "--time", str(stop_timeout), self.name, timeout=stop_timeout + 60)
        return int(str(self.state()["ExitCode"]))

    def remove(self) -> None:
        if not self.removed:
            try:
                _docker("rm", "--force", "--volumes", self.name, timeout=120, check=False)
            except ContainerError as exc:  # a hung engine: leave it, but let the other containers go
                warnings.warn(f"could not remove container {self.name}: {exc}", stacklevel=1)
            self.removed = True

    def wait_ready(self) -> None:
        """Poll with a deadline until nginx answers HEALTHCHECK_PATH below 500; fail early if the container exits."""
        deadline = time.monotonic() + self.timeout
        last = "no attempt"
        while True:
            state = self.state()
            if not state.get("Running"):
                raise ContainerError(
                    f"container {self.name} ({self.image}) exited with {state.get('ExitCode')} instead of serving;"
                    f" its logs:\n{_tail(self.logs())}"
                )
            try:
                # the host port is assigned on each start: read it again after a restart
                self.host_port = self.host_port or self._published_port()
                status = _status(self.host_port, self.healthcheck_path)
                if status < 500:
                    return
                last = f"GET {self.healthcheck_path} answered {status}"
            except (OSError, http.client.HTTPException, ContainerError) as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                raise ContainerError(
                    f"container {self.name} ({self.image}) did not answer through nginx within {self.timeout:g} s"
                    f" (last: {last}); its logs:\n{_tail(self.logs())}"
                )
            time.sleep(0.2)  # poll interval, not synchronisation: the loop above has the deadline

    def _published_port(self) -> int:
        out = _docker("port", self.name, f"{self.container_port}/tcp", timeout=30).stdout
        match = re.search(r"127\.0\.0\.1:(\d+)", out)
        if not match:
            raise ContainerError(f"{self.name}: no 127.0.0.1 port published for {self.container_port}/tcp: {out!r}")
        return int(match[1])


ContainerFactory = Callable[..., AiohttpNginxContainer]


# --- fixtures


@pytest.fixture(scope="session")
def aiohttp_nginx_docker() -> None:
    """A Docker engine that answers `docker info`, else skip (fail with REQUIRE_DOCKER=1)."""
    if shutil.which("docker"):
        try:
            if _docker("info", timeout=30, check=False).returncode == 0:
                return
        except ContainerError:
            pass
    message = "no Docker engine answers `docker info`"
    if os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail(f"{message} (REQUIRE_DOCKER=1)", pytrace=False)
    pytest.skip(f"{message}: tests using the aiohttp-nginx containers skipped (REQUIRE_DOCKER=1 makes this a failure)")


@pytest.fixture(scope="session")
def aiohttp_nginx_image(pytestconfig: pytest.Config, aiohttp_nginx_docker: None) -> str:
    """The base image apps are built FROM: $AIOHTTP_NGINX_IMAGE, else the ini option, else aiohttp-nginx:python3.13."""
    return os.environ.get(IMAGE_ENV) or str(pytestconfig.getini("aiohttp_nginx_image")) or DEFAULT_IMAGE


def _ini_dir(config: pytest.Config) -> Path:
    return Path(config.inipath).parent if config.inipath else Path(config.rootpath)


def _build(config: pytest.Config, base: str, context: Path, dockerfile: Optional[Path]) -> str:
    """Build (once per session) an image of the app; the tag is stable so reruns reuse docker's cache."""
    text = dockerfile.read_text() if dockerfile else f"FROM {base}\nCOPY . /app\n"
    digest = hashlib.sha256(f"{base}\0{context}\0{dockerfile}\0{text}".encode()).hexdigest()[:12]
    built = config.stash.setdefault(_built_key, {})
    if digest not in built:
        slug = re.sub(r"[^a-z0-9]+", "-", context.name.lower()).strip("-") or "app"
        tag = f"{LABEL}/{slug}:{digest}"
        # the Dockerfile on stdin: it may live outside the context, and the generated one needs no file
        _docker(
            "build", "--quiet", "--file", "-", "--build-arg", f"BASE={base}", "--label", f"{LABEL}=image",
            "--tag", tag, str(context), input=text, timeout=900,
        )  # fmt: skip
        built[digest] = tag
    return built[digest]


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
        image = _build(pytestconfig, aiohttp_nginx_image, context, Path(dockerfile).resolve() if dockerfile else None)
        env = dict(env or {})
        defaults = _image_env(image)
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
        _docker(
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


# --- the report


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
            text = _tail(container.logs()) or "(no output)"
        except ContainerError as exc:
            text = f"(could not read the logs: {exc})"
        report.sections.append((f"aiohttp-nginx container {container.name} ({container.image}) logs", text))
