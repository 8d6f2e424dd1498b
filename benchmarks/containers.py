"""The configurations as containers, on the test kit's harness (pytest_aiohttp_nginx): run, wait for the first 200,
remove; and the images: the one under test, its base, the seed built next to it."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from pytest_aiohttp_nginx.docker import docker as run_docker
from pytest_aiohttp_nginx.ready import wait_ready

from benchmarks.process import BenchError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
APP_DIR = ROOT / "docker-images" / "app"
BODY = b"hello from aiohttp"
LABEL = "aiohttp-nginx-bench"
# every configuration, in the order of the rounds and of the report; DEFAULT: those a plain run loads
ORDER = ("stack", "gunicorn-log", "stack-nolog", "gunicorn", "bare", "nginx", "seed")
DEFAULT = ("stack", "gunicorn-log", "stack-nolog", "gunicorn", "bare", "nginx")
TITLES = {
    "stack": "stack (this image, defaults: access log on)",
    "gunicorn-log": "gunicorn alone, access log to stdout",
    "stack-nolog": "stack, `ACCESS_LOG=off`",
    "gunicorn": "gunicorn alone, no access log",
    "bare": "bare proxy: the same stack, minimal nginx.conf",
    "nginx": "nginx alone (return 200)",
    "seed": "seed (reference config)",
}
# the many-connections rows: the same containers as their key's, loaded with --wide-connections
WIDE = ("stack", "gunicorn-log")
WIDE_SUFFIX = "-wide"
# gunicorn alone's access log: aiohttp's format (the uvloop worker takes no gunicorn-style one), the fields of
# nginx's `main` line that gunicorn knows (no request id: gunicorn alone has none)
GUNICORN_ACCESS_FORMAT = '%a - - %t "%r" %s %b "%{Referer}i" "%{User-Agent}i" %Tf'
POLL_INTERVAL_S = 0.005  # pacing of the first-200 poll: fine enough to time a start, no busy loop taking a core


def docker(*args: str, timeout: float = 60, check: bool = True) -> str:
    """`docker ARGS` (the harness's), its output stripped."""
    return run_docker(*args, timeout=timeout, check=check).stdout.strip()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


@dataclass
class Target:
    """One configuration: a container answering GET / on 127.0.0.1:port (host networking)."""

    key: str
    title: str
    image: str
    port: int
    env: Dict[str, str] = field(default_factory=dict)
    entrypoint: Optional[str] = None
    command: List[str] = field(default_factory=list)
    mounts: List[Tuple[str, str]] = field(default_factory=list)  # (host path, container path), read-only
    extra_args: List[str] = field(default_factory=list)
    container: Optional[str] = None
    connections: Optional[int] = None  # wrk connections for this row, when not the run's

    def docker_run_args(self, name: str) -> List[str]:
        # no HEALTHCHECK: every configuration of a run stays up while one is measured, and each idle one's
        # probe (a Python process every 30 s) would otherwise land in the measured one's rounds
        args = ["run", "-d", "--network", "host", "--no-healthcheck", "--name", name, "--label", LABEL, *self.extra_args]
        for key, value in self.env.items():
            args += ["-e", f"{key}={value}"]
        for host, inside in self.mounts:
            args += ["-v", f"{host}:{inside}:ro"]
        if self.entrypoint is not None:
            args += ["--entrypoint", self.entrypoint]
        return [*args, self.image, *self.command]


_serial = 0


def start(target: Target, deadline_s: float = 60) -> float:
    """Start the target's container and wait for its first 200 (with the app's body); seconds from `docker run`."""
    global _serial
    _serial += 1
    name = re.sub(r"[^a-zA-Z0-9_.-]", "_", f"{LABEL}-{target.key}-{os.getpid()}-{_serial}")
    began = time.monotonic()
    target.container = docker(*target.docker_run_args(name), timeout=60).splitlines()[-1]
    return wait_ready(
        target.port, timeout=deadline_s, accept=lambda status, body: status == 200 and body == BODY,
        container=target.container, started=began, interval=POLL_INTERVAL_S,
    )  # fmt: skip


def stop(target: Target) -> None:
    if target.container:
        docker("rm", "-f", target.container, timeout=30, check=False)
        target.container = None


@dataclass
class Session:
    """The running configurations of a run: all removed at the end, whatever happened."""

    targets: List[Target] = field(default_factory=list)

    def stop_all(self) -> None:
        for target in self.targets:
            stop(target)

    def __iter__(self) -> Iterator[Target]:
        return iter(self.targets)


def cleanup_leftovers() -> None:
    """Remove containers that a killed earlier run left behind (not those of a run still going: the pid is in the name)."""
    for line in docker("ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.ID}} {{.Names}}", timeout=30, check=False).splitlines():
        found = re.fullmatch(rf"(\S+) {re.escape(LABEL)}-\S+-(\d+)-\d+", line.strip())
        if found and not Path(f"/proc/{found[2]}").exists():
            docker("rm", "-f", found[1], timeout=60, check=False)


# --- the configurations


def stack_target(image: str, workers: int, env: Optional[Dict[str, str]] = None, key: str = "stack", title: str = "") -> Target:
    port = free_port()
    return Target(
        key, title or TITLES["stack"], image, port, env={"LISTEN_PORT": str(port), "WEB_CONCURRENCY": str(workers), **(env or {})}
    )


def seed_target(image: str, workers: int) -> Target:
    port = free_port()
    app_port = free_port()
    return Target(
        "seed", TITLES["seed"], image, port, env={"LISTEN_PORT": str(port), "APP_PORT": str(app_port), "WEB_CONCURRENCY": str(workers)}
    )


def gunicorn_target(
    image: str,
    workers: int,
    worker_class: str = "aiohttp.GunicornUVLoopWebWorker",
    key: str = "gunicorn",
    title: str = "",
    access_log: bool = False,
) -> Target:
    """gunicorn alone on TCP; with `access_log`, one line per request to stdout (docker's log driver), as nginx's."""
    port = free_port()
    command = ["-k", worker_class, "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    if access_log:
        command += ["--access-logfile", "-", "--access-logformat", GUNICORN_ACCESS_FORMAT]
    command.append("app:app")
    return Target(
        key,
        title or TITLES.get(key, TITLES["gunicorn"]),
        image,
        port,
        entrypoint="gunicorn",
        command=command,
        extra_args=["--workdir", "/app"],
    )


NGINX_ALONE_CONF = """\
worker_processes {workers};
pid /tmp/nginx-bench.pid;
daemon off;
error_log stderr warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    server_tokens off;
    keepalive_timeout 75s;
    client_body_temp_path /tmp/nginx-bench-body;
    proxy_temp_path /tmp/nginx-bench-proxy;
    fastcgi_temp_path /tmp/nginx-bench-fastcgi;
    uwsgi_temp_path /tmp/nginx-bench-uwsgi;
    scgi_temp_path /tmp/nginx-bench-scgi;
    server {{
        listen 127.0.0.1:{port};
        default_type text/plain;
        location / {{
            return 200 "hello from aiohttp";
        }}
    }}
}}
"""


def rendered_nginx_conf(image: str, env: Dict[str, str]) -> str:
    """The nginx.conf the image generates for this environment (`aiohttp-nginx render`)."""
    args = ["run", "--rm", "--network", "none", "--entrypoint", "sh"]
    for k, v in env.items():
        args += ["-e", f"{k}={v}"]
    return docker(*args, image, "-c", "aiohttp-nginx render --out /tmp/c >/dev/null && cat /tmp/c/nginx.conf", timeout=60) + "\n"


BARE_CONF = """\
# the bare proxy: the floor of nginx in front of the same gunicorn workers (benchmarks/containers.py)
{user}worker_processes 1;
pid {pid};
daemon off;
error_log stderr warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
{temp_paths}
    upstream app {{
        server {socket};
        keepalive 128;
        keepalive_requests 100000;
    }}
    server {{
        listen {port} backlog=4096;
        location / {{
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://app;
        }}
    }}
}}
"""


def bare_nginx_conf(rendered: str, port: int) -> str:
    """A minimal nginx.conf in place of the generated one: one worker, upstream keep-alive, no log, only the headers
    proxying needs. The user, pid file, temp paths and gunicorn's socket are the generated config's (the runtime's)."""

    def one(pattern: str) -> Optional[str]:
        found = re.search(pattern, rendered, re.M)
        return found.group(1) if found else None

    socket_ = one(r"^\s*server\s+(unix:\S+?);")
    pid = one(r"^pid\s+(\S+?);")
    if not socket_ or not pid:
        raise BenchError("the generated nginx.conf has no `pid` or no unix-socket upstream server: cannot make the bare proxy")
    user = one(r"^user\s+([^;]+);")
    temp_paths = "\n".join(f"    {m.group(0).strip()}" for m in re.finditer(r"^\s*\w+_temp_path\s+\S+;", rendered, re.M))
    return BARE_CONF.format(user=f"user {user};\n" if user else "", pid=pid, temp_paths=temp_paths, socket=socket_, port=port)


def bare_target(image: str, workers: int, workdir: Path) -> Target:
    """The stack's image, its workers and runtime, with the minimal nginx.conf mounted as /app/nginx.conf."""
    target = stack_target(image, workers, {"ACCESS_LOG": "off"}, key="bare", title=TITLES["bare"])
    conf = workdir / "nginx-bare.conf"
    conf.write_text(bare_nginx_conf(rendered_nginx_conf(image, target.env), target.port))
    target.mounts.append((str(conf), "/app/nginx.conf"))
    return target


def wide_target(target: Target, connections: int) -> Target:
    """The same container loaded with more connections: its own row."""
    return dataclasses.replace(
        target, key=target.key + WIDE_SUFFIX, title=f"{target.title}, {connections:,} connections", connections=connections
    )


def nginx_target(image: str, workdir: Path, nginx_workers: str) -> Target:
    port = free_port()
    conf = workdir / "nginx-alone.conf"
    conf.write_text(NGINX_ALONE_CONF.format(port=port, workers=nginx_workers))
    return Target(
        "nginx",
        f"{TITLES['nginx']}, {nginx_workers} worker{'' if nginx_workers == '1' else 's'}",
        image,
        port,
        entrypoint="nginx",
        command=["-c", "/etc/nginx-bench/nginx.conf", "-e", "stderr"],
        mounts=[(str(conf), "/etc/nginx-bench/nginx.conf")],
    )


# --- images


def default_image() -> str:
    """$IMAGE:python3.13, else :python3.11 (IMAGE defaults to aiohttp-nginx, as for scripts/build.sh)."""
    repo = os.environ.get("IMAGE", "aiohttp-nginx")
    for tag in ("python3.13", "python3.11"):
        if image_exists(f"{repo}:{tag}"):
            return f"{repo}:{tag}"
    raise BenchError(f"no {repo}:python3.13 or :python3.11 image: build one with scripts/build.sh python3.13")


def image_exists(ref: str) -> bool:
    return run_docker("image", "inspect", ref, timeout=30, check=False).returncode == 0


def image_id(ref: str) -> str:
    return docker("image", "inspect", "-f", "{{.Id}}", ref, timeout=30)


def image_size(ref: str) -> int:
    return int(docker("image", "inspect", "-f", "{{.Size}}", ref, timeout=30))


def base_image_of(image: str) -> str:
    """The base an image was built FROM: its OCI label (the Dockerfiles set it from BASE_IMAGE)."""
    label = docker("image", "inspect", "-f", '{{index .Config.Labels "org.opencontainers.image.base.name"}}', image, timeout=30)
    if not label or label == "<no value>":
        raise BenchError(f"cannot tell the base image of {image}: no org.opencontainers.image.base.name label")
    return label


def versions_in(image: str) -> Dict[str, str]:
    code = "import importlib.metadata as m, platform; print(platform.python_version(), m.version('aiohttp'), m.version('gunicorn'))"
    out = docker("run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c", code, timeout=60).splitlines()[-1].split()
    nginx = docker("run", "--rm", "--network", "none", "--entrypoint", "nginx", image, "-v", timeout=60).splitlines()[-1]
    return {"python": out[0], "aiohttp": out[1], "gunicorn": out[2], "nginx": nginx.replace("nginx version: ", "")}


def build_seed(base: str, versions: Dict[str, str], tag: str) -> str:
    """Build benchmarks/seed/Dockerfile FROM `base`, with the hello app staged next to it; the image id."""
    with tempfile.TemporaryDirectory(prefix="seed-ctx-") as ctx:
        for item in (HERE / "seed").iterdir():
            shutil.copy2(item, ctx)
        shutil.copytree(APP_DIR, Path(ctx) / "app", ignore=shutil.ignore_patterns("__pycache__"))
        docker(
            "build", "--quiet", "--tag", tag,
            "--build-arg", f"BASE_IMAGE={base}",
            "--build-arg", f"AIOHTTP_VERSION={versions['aiohttp']}",
            "--build-arg", f"GUNICORN_VERSION={versions['gunicorn']}",
            ctx, timeout=900,
        )  # fmt: skip
    return image_id(tag)
