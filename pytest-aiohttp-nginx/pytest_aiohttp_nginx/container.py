"""A running container of the app, and the image it is built into."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional

from pytest_aiohttp_nginx.docker import ContainerError, docker, logs
from pytest_aiohttp_nginx.ready import wait_ready

LABEL = "aiohttp-nginx-pytest"


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
        return logs(self.name)

    def state(self) -> Dict[str, object]:
        result = json.loads(docker("inspect", "--format", "{{json .State}}", self.name, timeout=30).stdout)
        return dict(result)

    def exec(self, *command: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command in the container, e.g. exec("aiohttp-nginx", "config")."""
        return docker("exec", self.name, *command, timeout=timeout, check=check)

    def healthcheck(self) -> bool:
        """What the image's HEALTHCHECK and Kubernetes probes run: `aiohttp-nginx healthcheck`."""
        return self.exec("aiohttp-nginx", "healthcheck", timeout=30, check=False).returncode == 0

    def restart(self, stop_timeout: int = 10) -> None:
        """`docker restart` (prestart.sh runs again), then wait until it answers; the published port may change."""
        docker("restart", "--time", str(stop_timeout), self.name, timeout=stop_timeout + 60)
        self.host_port = 0
        self.wait_ready()

    def stop(self, stop_timeout: int = 10) -> int:
        """`docker stop` (SIGTERM, SIGKILL after `stop_timeout`); returns the exit status."""
        docker("stop", "--time", str(stop_timeout), self.name, timeout=stop_timeout + 60)
        return int(str(self.state()["ExitCode"]))

    def remove(self) -> None:
        if not self.removed:
            try:
                docker("rm", "--force", "--volumes", self.name, timeout=120, check=False)
            except ContainerError as exc:  # a hung engine: leave it, but let the other containers go
                warnings.warn(f"could not remove container {self.name}: {exc}", stacklevel=1)
            self.removed = True

    def wait_ready(self) -> None:
        """Until nginx answers HEALTHCHECK_PATH below 500, within the deadline; fails early if the container exits."""
        # the host port is assigned on each start: read it again after a restart
        self.host_port = self.host_port or self._published_port()
        wait_ready(self.host_port, path=self.healthcheck_path, timeout=self.timeout, container=self.name)

    def _published_port(self) -> int:
        out = docker("port", self.name, f"{self.container_port}/tcp", timeout=30).stdout
        match = re.search(r"127\.0\.0\.1:(\d+)", out)
        if not match:
            raise ContainerError(f"{self.name}: no 127.0.0.1 port published for {self.container_port}/tcp: {out!r}")
        return int(match[1])


ContainerFactory = Callable[..., AiohttpNginxContainer]


def build_app_image(base: str, context: Path, dockerfile: Optional[Path] = None, built: Optional[Dict[str, str]] = None) -> str:
    """Build an image of the app FROM `base`; the tag is stable (a hash of the inputs) so reruns reuse docker's cache.

    `dockerfile` is built with --build-arg BASE=`base`; without one, `FROM base` + `COPY . /app`. `built` memoises.
    """
    text = dockerfile.read_text() if dockerfile else f"FROM {base}\nCOPY . /app\n"
    digest = hashlib.sha256(f"{base}\0{context}\0{dockerfile}\0{text}".encode()).hexdigest()[:12]
    built = {} if built is None else built
    if digest not in built:
        slug = re.sub(r"[^a-z0-9]+", "-", context.name.lower()).strip("-") or "app"
        tag = f"{LABEL}/{slug}:{digest}"
        # the Dockerfile on stdin: it may live outside the context, and the generated one needs no file
        docker(
            "build", "--quiet", "--file", "-", "--build-arg", f"BASE={base}", "--label", f"{LABEL}=image",
            "--tag", tag, str(context), input=text, timeout=900,
        )  # fmt: skip
        built[digest] = tag
    return built[digest]
