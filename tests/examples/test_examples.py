"""Every example in examples/ built from its own Dockerfile and exercised through the pytest plugin's fixture.

The image is the first tag of IMAGE_TAGS (default python3.13), built from this checkout (conftest.py). No Docker
engine: skipped, or failed with REQUIRE_DOCKER=1 (the plugin's aiohttp_nginx_docker fixture).
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Tuple
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml

from tests import support

if TYPE_CHECKING:  # the plugin is pytest's (its entry point): an import here first would skip its assertion rewriting
    from pytest_aiohttp_nginx.container import AiohttpNginxContainer, ContainerFactory

pytestmark = pytest.mark.image

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MiB = 1024 * 1024


@pytest.fixture
def example(aiohttp_nginx_container: ContainerFactory) -> ContainerFactory:
    """start(name, **options): the example's own Dockerfile, built on the image under test, running."""

    def start(name: str, **options: Any) -> AiohttpNginxContainer:
        return aiohttp_nginx_container(EXAMPLES / name, dockerfile=EXAMPLES / name / "Dockerfile", **options)

    return start


def request(container: AiohttpNginxContainer, method: str, path: str, body: bytes = b"") -> Tuple[int, bytes, Dict[str, str]]:
    return support.request(container.host_port, path, method, body or None, timeout=30)


def get_json(container: AiohttpNginxContainer, path: str) -> Any:
    return support.get_json(container.host_port, path, timeout=30)


def test_hello_answers_and_passes_its_healthcheck(example: ContainerFactory) -> None:
    app = example("hello")
    status, body, _ = request(app, "GET", "/")
    assert (status, body) == (200, b"hello from aiohttp")
    assert app.healthcheck()


def test_chat_message_from_one_client_reaches_the_other(example: ContainerFactory) -> None:
    app = example("chat")

    async def talk() -> str:
        async with aiohttp.ClientSession() as session:
            alice = await session.ws_connect(f"{app.url}/ws")
            bob = await session.ws_connect(f"{app.url}/ws")
            # each hears its own echo first: both are in the room before the real message goes out
            for ws, hello in ((alice, "alice joined"), (bob, "bob joined")):
                await ws.send_str(hello)
                while (await ws.receive(timeout=10)).data != hello:
                    pass
            await alice.send_str("hi bob")
            while True:
                msg = await bob.receive(timeout=10)
                assert msg.type == aiohttp.WSMsgType.TEXT, msg
                if msg.data == "hi bob":
                    return str(msg.data)

    assert asyncio.run(talk()) == "hi bob"


def test_on_docker_stop_chat_clients_get_the_apps_1001_close(example: ContainerFactory) -> None:
    """The stop order: nginx stops accepting, gunicorn is told while nginx still relays the app's close frames."""
    app = example("chat")

    async def talk() -> List[Tuple[int, str]]:
        async with aiohttp.ClientSession() as session:
            clients = [await session.ws_connect(f"{app.url}/ws") for _ in range(2)]
            for ws in clients:  # each is in the room (hears its own message) before the stop
                await ws.send_str("here")
                while (await ws.receive(timeout=10)).data != "here":
                    pass
            stopping = asyncio.get_running_loop().run_in_executor(None, app.stop)
            closes = []
            for ws in clients:
                msg = await ws.receive(timeout=15)
                while msg.type == aiohttp.WSMsgType.TEXT:
                    msg = await ws.receive(timeout=15)
                closes.append((int(msg.data) if msg.type == aiohttp.WSMsgType.CLOSE else 1006, str(msg.extra or "")))
            assert await stopping == 0
            return closes

    assert asyncio.run(talk()) == [(1001, "server shutdown")] * 2


def test_chat_page_is_served_by_nginx(example: ContainerFactory) -> None:
    app = example("chat")
    page = (EXAMPLES / "chat" / "app" / "static" / "index.html").read_bytes()
    # the app has no route at / or /static: a 200 with the page can only come from nginx
    for path in ("/", "/static/index.html"):
        status, body, headers = request(app, "GET", path)
        assert (status, body) == (200, page), path
        assert headers["content-type"].startswith("text/html")


def test_upload_of_5_mib_arrives_intact(example: ContainerFactory) -> None:
    app = example("uploads")
    payload = os.urandom(5 * MiB)
    expected = hashlib.sha256(payload).hexdigest()

    async def upload() -> Tuple[int, Any]:
        form = aiohttp.FormData()
        form.add_field("file", payload, filename="blob.bin", content_type="application/octet-stream")
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{app.url}/upload", data=form) as response:
                return response.status, await response.json()

    status, answer = asyncio.run(upload())
    assert (status, answer) == (201, {"filename": "blob.bin", "size": 5 * MiB, "sha256": expected})
    stored = app.exec("sha256sum", f"/tmp/uploads/{expected}").stdout
    assert stored.split()[0] == expected


def test_upload_over_nginx_max_upload_gets_413_from_nginx(example: ContainerFactory) -> None:
    app = example("uploads")  # NGINX_MAX_UPLOAD=50m
    conn = http.client.HTTPConnection("127.0.0.1", app.host_port, timeout=30)
    try:
        # nginx judges the declared length before reading the body: no need to send 51 MiB
        conn.putrequest("POST", "/upload")
        conn.putheader("Content-Type", "multipart/form-data; boundary=x")
        conn.putheader("Content-Length", str(51 * MiB))
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 413
        assert response.read() == b"413 Content Too Large\n"  # nginx's own short answer: the app never saw it
    finally:
        conn.close()


def test_prestart_migrates_the_database_once_and_a_restart_keeps_the_data(example: ContainerFactory) -> None:
    app = example("prestart-migrations")
    first = get_json(app, "/notes")
    assert first == {"schema_version": 3, "notes": [{"id": 1, "text": "migrated by prestart.sh", "author": "anonymous"}]}
    status, _, _ = request(app, "POST", "/notes", b"written before the restart")
    assert status == 201

    app.restart()  # /start.sh sources prestart.sh again

    after = get_json(app, "/notes")
    assert after["schema_version"] == 3
    assert [n["text"] for n in after["notes"]] == ["migrated by prestart.sh", "written before the restart"]
    logs = app.logs()  # docker keeps the output of both runs
    assert logs.count("prestart: applied migration 1") == 1, logs
    assert logs.count("is at schema version 3") == 2, logs


def test_factory_app_sees_the_client_address_without_proxy_middleware(example: ContainerFactory) -> None:
    app = example("factory")
    answer = get_json(app, "/")
    assert answer["remote"], answer
    ipaddress.ip_address(answer["remote"])  # an address, not a socket path or ""
    assert answer["scheme"] == "http"
    assert answer["host"] == urlsplit(app.url).netloc


def test_custom_nginx_conf_adds_cache_control_to_static_files(example: ContainerFactory) -> None:
    app = example("custom-nginx")
    status, body, headers = request(app, "GET", "/static/site.css")
    assert (status, body) == (200, (EXAMPLES / "custom-nginx" / "app" / "static" / "site.css").read_bytes())
    assert headers.get("cache-control") == "public, max-age=3600"
    assert headers["content-type"].startswith("text/css")
    # the generated config still serves the app
    status, body, headers = request(app, "GET", "/")
    assert status == 200 and b"/static/site.css" in body
    assert "cache-control" not in headers


def compose_service() -> Dict[str, Any]:
    return dict(yaml.safe_load((EXAMPLES / "compose" / "docker-compose.yml").read_text())["services"]["app"])


def test_compose_file_is_valid_for_docker_compose() -> None:
    v2 = shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=60).returncode == 0
    command = ["docker", "compose"] if v2 else ["docker-compose"] if shutil.which("docker-compose") else None
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run([*command, "config", "--quiet"], cwd=EXAMPLES / "compose", capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_compose_service_stores_uploads_in_its_volume_and_is_healthy(example: ContainerFactory) -> None:
    service = compose_service()
    mount = service["volumes"][0].split(":", 1)[1]
    # an anonymous volume stands in for the named one: removed with the container, whatever the outcome
    app = example("compose", env=service["environment"], docker_args=["--volume", mount])
    status, body, _ = request(app, "POST", "/", b"x" * MiB)
    assert status == 201, body
    name = json.loads(body)["name"]
    assert get_json(app, "/") == {"uploads": [name]}
    assert app.exec("test", "-s", f"{mount}/{name}", check=False).returncode == 0
    assert app.healthcheck()


def compose_command() -> List[str]:
    v2 = shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=60).returncode == 0
    if v2:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor `docker-compose` is installed", pytrace=False)
    return []  # not reached


def test_compose_up_runs_three_replicas_behind_the_balancer(aiohttp_nginx_image: str, tmp_path: Path) -> None:
    """One `compose up` as the README says; every replica serves through the balancer, uploads are shared."""
    project = f"ainbcompose{os.getpid()}"
    env = {**os.environ, "AIOHTTP_NGINX_IMAGE": aiohttp_nginx_image}
    compose = [*compose_command(), "--project-name", project]
    with socket.socket() as probe:
        port_free = probe.connect_ex(("127.0.0.1", 8080)) != 0
    if not port_free:
        pytest.skip("127.0.0.1:8080 is taken on this machine: the example publishes it")

    def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*compose, *args], cwd=EXAMPLES / "compose", env=env, capture_output=True, text=True, timeout=timeout)

    try:
        up = run("up", "--build", "-d")
        assert up.returncode == 0, up.stdout + up.stderr
        replicas = run("ps", "-q", "app").stdout.split()
        assert len(replicas) == 3, replicas
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # polled: the balancer starts once the replicas are healthy
            try:
                conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=5)
                conn.request("GET", "/")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        names = []
        for i in range(30):
            conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=30)
            conn.request("POST", "/", body=f"upload {i}".encode())
            response = conn.getresponse()
            assert response.status == 201, response.read()
            names.append(json.loads(response.read())["name"])
        conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=30)
        conn.request("GET", "/")
        assert sorted(json.loads(conn.getresponse().read())["uploads"]) == sorted(names), "one volume for all replicas"
        for replica in replicas:  # each replica's own access log (flushed within 1 s) shows it served some uploads
            deadline = time.monotonic() + 10
            while '"POST / HTTP/1.1" 201' not in subprocess.run(["docker", "logs", replica], capture_output=True, text=True).stdout:
                assert time.monotonic() < deadline, f"replica {replica} served none of the uploads"
                time.sleep(0.2)
    finally:
        run("down", "-v", "--timeout", "20", timeout=300)


def kubernetes_container() -> Dict[str, Any]:
    docs = [d for f in sorted((EXAMPLES / "kubernetes").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d and "kind" in d]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    return dict(deployment["spec"]["template"]["spec"]["containers"][0])


def test_hello_runs_under_the_kubernetes_security_context(example: ContainerFactory) -> None:
    spec = kubernetes_container()
    security = spec["securityContext"]
    env = {e["name"]: e["value"] for e in spec["env"]}
    # the Deployment's restrictions, as docker options
    options: List[str] = [
        f"--user={security['runAsUser']}:{security['runAsUser']}",
        "--read-only",
        f"--tmpfs={spec['volumeMounts'][0]['mountPath']}",
        *(f"--cap-drop={cap}" for cap in security["capabilities"]["drop"]),
        "--security-opt=no-new-privileges",
        f"--cpus={spec['resources']['limits']['cpu']}",
    ]
    app = example("hello", env=env, docker_args=options)
    assert request(app, "GET", "/")[:2] == (200, b"hello from aiohttp")
    for probe in ("readinessProbe", "livenessProbe"):  # the kubelet's HTTP probes, on the container's port
        assert request(app, "GET", spec[probe]["httpGet"]["path"])[0] == 200, probe
    config = json.loads(app.exec("aiohttp-nginx", "config").stdout)
    assert config["workers"] == 2  # max(2, 1 x the 1-CPU limit)
