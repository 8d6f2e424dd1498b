"""The security regression suite (issue 11): each test is the attack, run against the real stack.

"Another local user" is a real throwaway user created for the session; its steps run under
its own uid (setpriv). Tests that need a second user, a mount or root's nginx are skipped
when the suite does not run as root (CI does).
"""

from __future__ import annotations

import errno
import grp
import json
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from aiohttp_nginx_base.settings import VARIABLES
from tests.host.conftest import HostStack
from tests.support import APPS, free_port, get_json, request, wait_until

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root: a second local user, a mount, root's nginx")
WORKER_USERS = ("www-data", "nginx")
# the names `render` writes into RUNTIME_DIR (an attacker plants links at these and at their old temporary names)
GENERATED = ("nginx.conf", "gunicorn.json", "supervisord.conf", "proxy-headers.conf", "proxy-maps.conf")


# --- helpers


@pytest.fixture(scope="session")
def attacker() -> Iterator[pwd.struct_passwd]:
    """Another local user of this machine, created for the session and removed after it."""
    if not IS_ROOT:
        pytest.skip("creating a second local user needs root")
    name = f"ang-attacker-{os.getpid() % 100000}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=False)


def as_user(user: pwd.struct_passwd, *argv: str) -> None:
    """Run one of the attacker's steps as that user."""
    subprocess.run(
        ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", *argv],
        check=True,
        capture_output=True,
        timeout=30,
    )


@pytest.fixture
def open_dir(open_tmp: Path) -> Path:
    return open_tmp


@pytest.fixture
def shared_tmp(open_dir: Path) -> Path:
    """Like /tmp: anyone may create entries in it, nobody may remove another's (sticky)."""
    shared = open_dir / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    return shared


def base_env(**extra: str) -> Dict[str, str]:
    names = {v.name for v in VARIABLES}
    return {**{k: v for k, v in os.environ.items() if k not in names}, **extra}


@pytest.fixture
def app_env(open_dir: Path) -> Dict[str, str]:
    """APP_DIR (the security test app) and an empty NGINX_CONF_DIR, for the one-shot verbs."""
    app_dir = open_dir / "app"
    shutil.copytree(APPS / "trust", app_dir)
    conf_dir = open_dir / "conf.d"
    (conf_dir / "server").mkdir(parents=True)
    return {"APP_DIR": str(app_dir), "NGINX_CONF_DIR": str(conf_dir)}


def cli(args: List[str], env: Dict[str, str], python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, "-m", "aiohttp_nginx_base", *args], env=base_env(**env), capture_output=True, text=True, timeout=60)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def start_stack(app_dir: Path, env: Dict[str, str], port: Optional[int] = None, python: Optional[str] = None) -> HostStack:
    stack = HostStack(app_dir, {**({"LISTEN_PORT": str(port)} if port else {}), **env}, python=python)
    if port:
        stack.port = port
    return stack


def trust_app_stack(open_dir: Path, stacks: List[HostStack], env: Dict[str, str]) -> HostStack:
    """The trust app in host mode with `env` (ALLOWED_HOSTS naming example.com), once it answers as example.com."""
    app_dir, runtime = open_dir / "app", open_dir / "runtime"
    shutil.copytree(APPS / "trust", app_dir)
    stack = start_stack(app_dir, {"RUNTIME_DIR": str(runtime), **env})
    stacks.append(stack)
    wait_until(
        lambda: request(stack.port, "/", headers={"Host": "example.com"}, timeout=2)[0] == 200 or stack.proc.poll() is not None,
        20,
        "the stack",
    )
    return stack


@pytest.fixture
def stacks() -> Iterator[List[HostStack]]:
    """Stacks a test starts itself; stopped after it."""
    started: List[HostStack] = []
    yield started
    for stack in started:
        if stack.proc.poll() is None:
            try:
                stack.stop(timeout=20)
            except subprocess.TimeoutExpired:
                stack.kill()


def worker_user() -> pwd.struct_passwd:
    for name in WORKER_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.skip("no unprivileged user for nginx's workers on this machine")


def children(pid: int) -> List[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])  # the real uid
    raise AssertionError(f"no Uid line for {pid}")


SPOOF = {"X-Real-IP": "6.6.6.6", "X-Forwarded-Proto": "https", "Forwarded": "for=6.6.6.6;proto=https;host=evil.example"}


# --- 1. the runtime directory


@needs_root
def test_a_runtime_dir_another_user_created_first_is_refused(attacker, shared_tmp: Path, app_env: Dict[str, str]) -> None:
    runtime = shared_tmp / "aiohttp-nginx"
    as_user(attacker, "mkdir", "-m", "0777", str(runtime))
    # what root would run if it used this directory: the attacker's own gunicorn config
    as_user(attacker, "sh", "-c", 'echo "import os; os.system(\'id > /tmp/pwned\')" > "$0/gunicorn.conf.py"', str(runtime))
    result = cli(["render"], {**app_env, "RUNTIME_DIR": str(runtime)})
    assert result.returncode == 2, result
    line = one_line(result)
    assert line.startswith(f"aiohttp-nginx: RUNTIME_DIR='{runtime}'"), line
    assert {p.stat().st_uid for p in runtime.iterdir()} == {attacker.pw_uid}  # nothing of ours went in


@needs_root
def test_symlinks_planted_at_the_names_the_stack_writes_are_not_followed(
    attacker, shared_tmp: Path, app_env: Dict[str, str], tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("root's own file\n")
    victim_dir = tmp_path / "victim-dir"
    victim_dir.mkdir(mode=0o700)
    runtime = shared_tmp / "aiohttp-nginx"
    as_user(attacker, "mkdir", "-m", "0777", str(runtime))
    for name in GENERATED + tuple(n + ".tmp" for n in GENERATED):
        as_user(attacker, "ln", "-s", str(victim), str(runtime / name))
    as_user(attacker, "ln", "-s", str(victim_dir), str(runtime / "run"))
    cli(["render"], {**app_env, "RUNTIME_DIR": str(runtime)})
    assert victim.read_text() == "root's own file\n"
    assert (victim_dir.stat().st_mode & 0o7777, victim_dir.stat().st_gid) == (0o700, 0)


def test_a_symlink_left_in_our_own_runtime_dir_is_replaced_not_followed(app_env: Dict[str, str], tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    names = GENERATED
    for name in names + tuple(n + ".tmp" for n in names):
        (runtime / name).symlink_to(victim)
    result = cli(["render"], {**app_env, "RUNTIME_DIR": str(runtime)})
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "precious\n"
    for name in names:
        assert not (runtime / name).is_symlink() and (runtime / name).is_file()


@needs_root
def test_a_fresh_empty_mount_point_is_tightened_and_used_but_only_by_its_owner(attacker, open_dir: Path, app_env: Dict[str, str]) -> None:
    """The documented exception: `--tmpfs /tmp/aiohttp-nginx` (mode 1777) is used, made private; another user's is refused."""
    mounts = [open_dir / "ours", open_dir / "roots"]
    try:
        for mount in mounts:
            mount.mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=1777", "tmpfs", str(mount)], check=True)
        result = cli(["render"], {**app_env, "RUNTIME_DIR": str(mounts[0])})
        assert result.returncode == 0, result.stderr
        assert mounts[0].stat().st_mode & 0o7777 == 0o711  # root: nginx's workers pass through
        as_attacker = subprocess.run(
            [
                "setpriv",
                f"--reuid={attacker.pw_uid}",
                f"--regid={attacker.pw_gid}",
                "--clear-groups",
                sys.executable,
                "-m",
                "aiohttp_nginx_base",
                "render",
            ],
            env=base_env(**app_env, RUNTIME_DIR=str(mounts[1])),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert as_attacker.returncode == 2, as_attacker
        assert f"uid={attacker.pw_uid}" in one_line(as_attacker)
        assert list(mounts[1].iterdir()) == []
    finally:
        for mount in mounts:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def test_reload_refuses_to_signal_a_process_that_is_not_our_stack(app_env: Dict[str, str], tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    (runtime / "run").mkdir(parents=True, mode=0o700)
    runtime.chmod(0o700)
    victim = subprocess.Popen(["sleep", "60"])
    try:
        state = {"pid": victim.pid, "listen_port": 1, "healthcheck_path": "/"}
        (runtime / "run" / "state.json").write_text(json.dumps(state))
        result = cli(["reload"], {"RUNTIME_DIR": str(runtime)})
        assert result.returncode != 0, result
        assert "not" in one_line(result)
        with pytest.raises(subprocess.TimeoutExpired):
            victim.wait(1)  # SIGHUP would have ended it
    finally:
        victim.kill()
        victim.wait()


@pytest.mark.parametrize("plant", ["fifo", "zero", "garbage"])
@pytest.mark.parametrize("verb", ["reload", "healthcheck"])
def test_a_planted_state_file_cannot_hang_or_crash_reload_and_healthcheck(tmp_path: Path, verb: str, plant: str) -> None:
    # whoever owns RUNTIME_DIR (the default is a fixed name in /tmp) chooses what is at run/state.json;
    # root's `reload` or `healthcheck` must answer with one line, not block on a FIFO, read /dev/zero or crash
    runtime = tmp_path / "runtime"
    (runtime / "run").mkdir(parents=True, mode=0o700)
    runtime.chmod(0o700)
    state = runtime / "run" / "state.json"
    if plant == "fifo":
        os.mkfifo(state, 0o600)
    elif plant == "zero":
        state.symlink_to("/dev/zero")
    else:
        state.write_text(json.dumps({"pid": 1, "listen_port": "not a port", "healthcheck_path": 7}))
    result = subprocess.run(
        [sys.executable, "-m", "aiohttp_nginx_base", verb, *(["--timeout", "1"] if verb == "reload" else [])],
        env=base_env(RUNTIME_DIR=str(runtime)),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode != 0, result
    assert one_line(result).startswith("aiohttp-nginx: "), result.stderr


def test_a_reload_as_soon_as_the_state_file_appears_does_not_kill_the_stack(open_dir: Path, stacks: List[HostStack]) -> None:
    # `aiohttp-nginx reload` believes the state file as soon as it exists; SIGHUP's default action ends
    # a process, so the stack must already answer it then (host mode: the stack is not PID 1)
    import time

    from aiohttp_nginx_base import control

    app_dir, runtime = open_dir / "app", open_dir / "runtime"
    shutil.copytree(APPS / "trust", app_dir)
    stack = start_stack(app_dir, {"RUNTIME_DIR": str(runtime)})
    stacks.append(stack)
    deadline = time.monotonic() + 30
    while not (runtime / control.STATE_FILE).exists():  # polled tightly: the window is the point
        assert time.monotonic() < deadline and stack.proc.poll() is None, stack.output
    pid, problem = control.find_stack(runtime)
    assert pid == stack.proc.pid, problem
    os.kill(pid, signal.SIGHUP)
    stack.wait_ready()
    assert request(stack.port, "/")[0] == 200


def test_pid_files_left_by_a_killed_stack_are_not_signalled(open_dir: Path, stacks: List[HostStack]) -> None:
    # a stack killed with SIGKILL leaves nginx.pid and gunicorn.pid behind; until the new nginx and
    # gunicorn write theirs, a reload would signal whatever process now has those pids
    import time

    from aiohttp_nginx_base import control

    app_dir, runtime = open_dir / "app", open_dir / "runtime"
    shutil.copytree(APPS / "trust", app_dir)
    (runtime / "run").mkdir(parents=True, mode=0o700)
    runtime.chmod(0o700)
    victim = subprocess.Popen(["sleep", "60"])
    try:
        for stale in (runtime / "nginx.pid", runtime / "run" / "gunicorn.pid"):
            stale.write_text(f"{victim.pid}\n")
        stack = start_stack(app_dir, {"RUNTIME_DIR": str(runtime)})
        stacks.append(stack)
        deadline = time.monotonic() + 30
        while not (runtime / control.STATE_FILE).exists():
            assert time.monotonic() < deadline and stack.proc.poll() is None, stack.output
        os.kill(stack.proc.pid, signal.SIGHUP)  # before nginx and gunicorn run
        stack.wait_ready()
        with pytest.raises(subprocess.TimeoutExpired):
            victim.wait(0.5)  # SIGHUP would have ended it
    finally:
        victim.kill()
        victim.wait()


def test_a_second_stack_on_a_running_stacks_runtime_dir_is_refused_with_one_line(open_dir: Path, stacks: List[HostStack]) -> None:
    app_dir, runtime = open_dir / "app", open_dir / "runtime"
    shutil.copytree(APPS / "trust", app_dir)
    first = start_stack(app_dir, {"RUNTIME_DIR": str(runtime)})
    stacks.append(first)
    first.wait_ready()
    second = start_stack(app_dir, {"RUNTIME_DIR": str(runtime)})
    stacks.append(second)
    assert second.proc.wait(30) == 2, second.output
    assert f"pid {first.proc.pid} does" in second.output, second.output
    assert "Traceback" not in second.output
    assert request(first.port, "/")[0] == 200


def test_render_refuses_to_overwrite_a_running_stacks_configs_and_secret(open_dir: Path, stacks: List[HostStack]) -> None:
    # `docker exec ... aiohttp-nginx render` to look at the configs would replace the running stack's
    # per-start secret: its next gunicorn worker would then trust no request nginx sends
    app_dir, runtime = open_dir / "app", open_dir / "runtime"
    shutil.copytree(APPS / "trust", app_dir)
    stack = start_stack(app_dir, {"RUNTIME_DIR": str(runtime)})
    stacks.append(stack)
    stack.wait_ready()
    secret = (runtime / "run" / "proxy-secret").read_text()
    result = cli(["render"], {"RUNTIME_DIR": str(runtime), "APP_DIR": str(app_dir)})
    assert result.returncode == 2, result
    assert f"pid {stack.proc.pid} does" in one_line(result)
    assert (runtime / "run" / "proxy-secret").read_text() == secret
    elsewhere = cli(["render", "--out", str(open_dir / "out")], {"RUNTIME_DIR": str(runtime), "APP_DIR": str(app_dir)})
    assert elsewhere.returncode == 0, elsewhere.stderr


# --- 2. client trust: X-Real-IP / X-Forwarded-Proto / Forwarded


def test_a_client_cannot_choose_its_address_through_a_custom_location(host_stack, tmp_path: Path) -> None:
    conf = tmp_path / "conf.d"
    (conf / "server").mkdir(parents=True)
    # a user's addition with a header of its own: nginx then inherits none of the generated ones
    (conf / "server" / "custom.conf").write_text("location /custom/ {\n    proxy_set_header X-Custom yes;\n    proxy_pass http://app;\n}\n")
    stack = host_stack("trust", env={"NGINX_CONF_DIR": str(conf)})
    seen = get_json(stack.port, "/custom/client", source="127.0.0.2", headers=SPOOF)
    assert seen["headers"]["x-custom"] == "yes"  # it did go through the custom location
    assert seen["remote"] != "6.6.6.6"
    assert seen["scheme"] == "http"
    assert seen["forwarded"] == []


def test_the_documented_include_keeps_the_real_client_in_a_custom_location(host_stack, tmp_path: Path) -> None:
    conf = tmp_path / "conf.d"
    (conf / "server").mkdir(parents=True)
    (conf / "server" / "custom.conf").write_text(
        "location /custom/ {\n    include proxy-headers.conf;\n    proxy_set_header X-Custom yes;\n    proxy_pass http://app;\n}\n"
    )
    stack = host_stack("trust", env={"NGINX_CONF_DIR": str(conf)})
    seen = get_json(stack.port, "/custom/client", source="127.0.0.2", headers=SPOOF)
    assert seen["headers"]["x-custom"] == "yes"
    assert (seen["remote"], seen["scheme"]) == ("127.0.0.2", "http")
    assert [f["for"] for f in seen["forwarded"]] == ["127.0.0.2"]


def test_the_proof_is_never_sent_to_an_upstream_other_than_the_app(host_stack, tmp_path: Path) -> None:
    # a user's location that proxies elsewhere (a partner API, another service) inherits the server's
    # proxy_set_header lines: the per-start secret must not go with them, or that service could spoof clients
    import http.server
    import threading

    seen: List[Dict[str, str]] = []

    class Partner(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            seen.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    partner = http.server.HTTPServer(("127.0.0.1", 0), Partner)
    threading.Thread(target=partner.serve_forever, daemon=True).start()
    try:
        conf = tmp_path / "conf.d"
        (conf / "server").mkdir(parents=True)
        (conf / "server" / "partner.conf").write_text(f"location /partner/ {{\n    proxy_pass http://127.0.0.1:{partner.server_port};\n}}\n")
        stack = host_stack("trust", env={"NGINX_CONF_DIR": str(conf)})
        assert request(stack.port, "/partner/x")[0] == 200
        assert len(seen) == 1
        assert not [name for name in seen[0] if name.startswith("x-aiohttp-nginx")], seen[0]
        # while the app itself still gets the real client through the generated headers
        assert get_json(stack.port, "/client", source="127.0.0.2", headers=SPOOF)["remote"] == "127.0.0.2"
    finally:
        partner.shutdown()
        partner.server_close()


def test_a_client_cannot_choose_its_address_through_a_replacement_nginx_conf(open_dir: Path, stacks: List[HostStack]) -> None:
    app_dir, runtime, port = open_dir / "app", open_dir / "runtime", free_port()
    shutil.copytree(APPS / "trust", app_dir)
    env = {"RUNTIME_DIR": str(runtime)}
    user_line = ""
    if IS_ROOT:
        user = worker_user()
        env["NGINX_USER"] = user.pw_name
        user_line = f"user {user.pw_name} {grp.getgrgid(user.pw_gid).gr_name};\n"
    temp_paths = "".join(f"    {kind}_temp_path {runtime}/nginx/{kind};\n" for kind in ("proxy", "fastcgi", "uwsgi", "scgi"))
    # a tiangolo-era replacement: passes the request on and sets none of the generated headers
    (app_dir / "nginx.conf").write_text(
        f"{user_line}pid {runtime}/nginx.pid;\ndaemon off;\nerror_log stderr warn;\nevents {{ worker_connections 64; }}\n"
        f"http {{\n    access_log off;\n    client_body_temp_path {runtime}/nginx/body;\n{temp_paths}"
        f"    server {{\n        listen 127.0.0.1:{port};\n"
        f"        location / {{ proxy_pass http://unix:{runtime}/run/gunicorn.sock:; }}\n    }}\n}}\n"
    )
    stack = start_stack(app_dir, env, port=port)
    stacks.append(stack)
    stack.wait_ready()
    seen = get_json(port, "/client", source="127.0.0.2", headers=SPOOF)
    assert seen["remote"] != "6.6.6.6"
    assert seen["scheme"] == "http"
    assert seen["forwarded"] == []


def test_a_client_sent_forwarded_header_is_replaced_by_what_nginx_concluded(host_stack) -> None:
    stack = host_stack("trust")
    seen = get_json(stack.port, "/client", source="127.0.0.2", headers=SPOOF)
    assert (seen["remote"], seen["scheme"]) == ("127.0.0.2", "http")
    assert seen["forwarded"] == [{"for": "127.0.0.2", "proto": "http", "host": f"127.0.0.1:{stack.port}"}]
    # the proof nginx adds is for the worker only: the app never sees it
    assert not [name for name in seen["headers"] if name.startswith("x-aiohttp-nginx")], seen["headers"]


def test_an_ipv6_client_is_quoted_in_forwarded(host_stack) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    stack = host_stack("trust")
    import http.client

    conn = http.client.HTTPConnection("::1", stack.port, timeout=10)
    try:
        conn.request("GET", "/client", headers={"Forwarded": 'for="[2001:db8::6]"'})
        seen = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    assert seen["remote"] == "::1"
    assert [f["for"] for f in seen["forwarded"]] == ["[::1]"]


# --- 3. reload never kills the stack


@needs_root
def test_a_reload_that_cannot_write_its_configs_leaves_the_stack_running(open_dir: Path, stacks: List[HostStack]) -> None:
    app_dir, runtime = open_dir / "app", open_dir / "runtime"
    shutil.copytree(APPS / "trust", app_dir)
    runtime.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(runtime)], check=True)
    try:
        stack = start_stack(app_dir, {"RUNTIME_DIR": str(runtime)})
        stacks.append(stack)
        stack.wait_ready()
        filler = runtime / "filler"
        with open(filler, "wb", buffering=0) as fill:  # unbuffered: nothing left to flush on close once full
            try:
                for _ in range(10000):
                    fill.write(b"\0" * 65536)
                    fill.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        result = cli(["reload"], {"RUNTIME_DIR": str(runtime)})
        wait_until(lambda: "reload" in stack.output or stack.proc.poll() is not None, 15, "the stack to report the reload")
        assert stack.proc.poll() is None, stack.output
        assert request(stack.port, "/")[0] == 200
        assert result.returncode == 1, result
        assert "reload failed" in one_line(result)
        assert len([line for line in stack.output.splitlines() if "reload failed" in line]) == 1, stack.output
        assert "Traceback" not in stack.output
        filler.unlink()
        again = cli(["reload"], {"RUNTIME_DIR": str(runtime)})
        assert again.returncode == 0, again.stderr
        assert request(stack.port, "/")[0] == 200
        stack.stop()
    finally:
        for stack in stacks:
            if stack.proc.poll() is None:
                stack.stop()
        subprocess.run(["umount", "-l", str(runtime)], check=False)


# --- 4. nginx's workers never run as root


@needs_root
def test_host_mode_as_root_never_runs_nginx_workers_as_root(open_dir: Path, stacks: List[HostStack]) -> None:
    app_dir, runtime = open_dir / "app", open_dir / "runtime"
    shutil.copytree(APPS / "trust", app_dir)
    stack = start_stack(app_dir, {"RUNTIME_DIR": str(runtime)})
    stacks.append(stack)
    stack.wait_ready()
    master = int((runtime / "nginx.pid").read_text())
    workers = children(master)
    assert workers, stack.output
    assert [uid_of(pid) for pid in workers if uid_of(pid) == 0] == []


@needs_root
def test_in_host_mode_as_root_only_nginx_reaches_gunicorns_socket(open_dir: Path, stacks: List[HostStack]) -> None:
    # the socket is open to NGINX_USER's group: any other process of that user (a host's php-fpm) reached the app
    # directly, past ALLOWED_HOSTS and the body limits
    stack = trust_app_stack(open_dir, stacks, {"ALLOWED_HOSTS": "example.com"})
    user = worker_user()
    # several connections: each gunicorn worker accepts some
    script = (
        "import socket, sys\n"
        "answer = b''\n"
        "for _ in range(8):\n"
        "    s = socket.socket(socket.AF_UNIX)\n"
        "    s.settimeout(10)\n"
        "    s.connect(sys.argv[1])\n"
        "    try:\n"
        "        s.sendall(b'GET / HTTP/1.0\\r\\nHost: evil.example\\r\\n\\r\\n')\n"
        "        for _ in range(100):\n"
        "            data = s.recv(65536)\n"
        "            if not data: break\n"
        "            answer += data\n"
        "    except OSError:\n"
        "        pass\n"
        "    s.close()\n"
        "sys.stdout.write(repr(answer))\n"
    )
    result = subprocess.run(
        [
            "setpriv",
            f"--reuid={user.pw_uid}",
            f"--regid={user.pw_gid}",
            "--init-groups",
            sys.executable,
            "-c",
            script,
            str(Path(stack.env["RUNTIME_DIR"]) / "run" / "gunicorn.sock"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "hello from aiohttp" not in result.stdout, result.stdout  # the app never answered
    assert result.stdout == "b''", (result.stdout, result.stderr)  # every connection closed unanswered
    # nginx itself still reaches it
    assert request(stack.port, "/", headers={"Host": "example.com"})[0] == 200


@needs_root
def test_app_user_runs_the_app_without_roots_privileges_and_a_failed_load_still_stops_the_stack(
    open_dir: Path, stacks: List[HostStack]
) -> None:
    nobody = pwd.getpwnam("nobody")
    app_dir, runtime = open_dir / "app", open_dir / "runtime"
    shutil.copytree(APPS / "trust", app_dir)
    stack = start_stack(app_dir, {"RUNTIME_DIR": str(runtime), "APP_USER": "nobody"})
    stacks.append(stack)
    stack.wait_ready()
    ids = get_json(stack.port, "/ids")
    assert (ids["euid"], ids["egid"]) == (nobody.pw_uid, nobody.pw_gid) and 0 not in ids["groups"], ids
    assert get_json(stack.port, "/client", headers=SPOOF)["remote"] == "127.0.0.1"  # the proof, read before the switch
    assert stack.stop() == 0
    # an app that fails to load: the worker may not signal root's arbiter, yet the stack stops at once with the reason
    broken = open_dir / "broken"
    shutil.copytree(APPS / "broken", broken)
    failed = start_stack(broken, {"RUNTIME_DIR": str(open_dir / "runtime2"), "APP_USER": "nobody"})
    stacks.append(failed)
    code = failed.proc.wait(30)
    failed._reader.join(5)
    assert code != 0, failed.output
    assert failed.output.strip().splitlines()[-1].startswith("aiohttp-nginx: the app failed to load: "), failed.output
    assert failed.output.count("Traceback (most recent call last):") == 1, failed.output


@needs_root
def test_app_user_holds_for_another_worker_class_too(open_dir: Path, stacks: List[HostStack]) -> None:
    nobody = pwd.getpwnam("nobody")
    app_dir = open_dir / "app"
    shutil.copytree(APPS / "trust", app_dir)
    env = {"RUNTIME_DIR": str(open_dir / "runtime"), "APP_USER": "nobody", "WORKER_CLASS": "aiohttp.GunicornWebWorker"}
    stack = start_stack(app_dir, env)
    stacks.append(stack)
    stack.wait_ready()
    assert get_json(stack.port, "/ids")["euid"] == nobody.pw_uid


def test_app_user_that_does_not_exist_is_refused_with_one_line(app_env: Dict[str, str], tmp_path: Path) -> None:
    result = cli(["check"], {**app_env, "RUNTIME_DIR": str(tmp_path / "rt"), "APP_USER": "no-such-user"})
    assert result.returncode == 2, result
    assert one_line(result).startswith("aiohttp-nginx: APP_USER='no-such-user'")


def test_app_user_that_is_nginx_workers_user_is_refused(app_env: Dict[str, str], tmp_path: Path) -> None:
    # the attack: APP_USER=www-data (a natural choice on Debian) made every www-data process a trusted peer of
    # gunicorn's socket, past the check that only nginx's workers may connect (review of issue 20)
    env = {**app_env, "RUNTIME_DIR": str(tmp_path / "rt"), "NGINX_USER": "www-data", "APP_USER": "www-data"}
    result = cli(["check"], env)
    assert result.returncode == 2, result
    assert one_line(result) == (
        "aiohttp-nginx: APP_USER='www-data' is not valid: a user other than nginx's workers' (www-data) and outside their group"
    ), result


def test_nginx_user_root_is_refused_with_one_line(app_env: Dict[str, str], tmp_path: Path) -> None:
    result = cli(["check"], {**app_env, "RUNTIME_DIR": str(tmp_path / "rt"), "NGINX_USER": "root"})
    assert result.returncode == 2, result
    assert one_line(result).startswith("aiohttp-nginx: NGINX_USER='root'")


# --- 5. paths that reach supervisord


def test_a_python_under_a_path_with_a_space_and_a_percent_sign_runs_the_stack(open_dir: Path, stacks: List[HostStack]) -> None:
    venv = open_dir / "My 100% Projects" / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(
        subprocess.check_output(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    # this checkout's packages, as the venv's own
    (site / "this-checkout.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    python = str(venv / "bin" / "python")
    app_dir = open_dir / "app"
    shutil.copytree(APPS / "trust", app_dir)
    checked = cli(["check"], {"APP_DIR": str(app_dir), "RUNTIME_DIR": str(open_dir / "rt-check")}, python=python)
    stack = start_stack(app_dir, {"RUNTIME_DIR": str(open_dir / "runtime")}, python=python)
    stacks.append(stack)
    stack.wait_ready()
    assert checked.returncode == 0, checked.stderr  # and `check` agrees with `start`


# --- 6. request bodies


def test_a_content_length_over_the_default_limit_is_refused_before_the_body_is_sent(host_stack) -> None:
    stack = host_stack("trust")
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as conn:
        conn.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10737418240\r\n\r\n")
        head = conn.recv(4096)  # not one byte of the 10 GiB was sent
    assert head.startswith(b"HTTP/1.1 413"), head


def test_a_chunked_body_is_refused_once_it_passes_the_default_limit(host_stack, tmp_path: Path) -> None:
    marker = tmp_path / "reached"
    stack = host_stack("trust", env={"UPLOAD_MARKER": str(marker)})
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as conn:
        conn.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(1024):  # up to 64 MiB
            if select.select([conn], [], [], 0)[0]:
                break
            try:
                conn.sendall(chunk)
            except OSError:
                break
            sent += 0x10000
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 32 * 1024 * 1024, sent  # refused while the body was still coming
    assert not marker.exists()  # the app never saw it


def _gzip_bomb(inflated: int) -> bytes:
    import gzip

    return gzip.compress(b"\0" * inflated, compresslevel=9)


def test_a_compressed_body_is_refused_with_413_before_the_app(host_stack, tmp_path: Path) -> None:
    # nginx counts the bytes on the wire: 65 KB of gzip inflated to 64 MiB in the app's request.content
    marker = tmp_path / "reached"
    stack = host_stack("trust", env={"UPLOAD_MARKER": str(marker)})
    bomb = _gzip_bomb(64 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024  # under NGINX_MAX_UPLOAD's default
    for encoding in ("gzip", "GZip", "deflate"):
        status, body, _ = request(stack.port, "/upload", method="POST", body=bomb, headers={"Content-Encoding": encoding})
        assert (status, body) == (413, b"413 Content Too Large: a compressed request body (Content-Encoding) is refused\n")
    assert not marker.exists()  # the app never saw them
    # an encoding aiohttp does not inflate reaches the app as sent, bounded by nginx
    status, body, _ = request(stack.port, "/upload", method="POST", body=b"x" * 1000, headers={"Content-Encoding": "x-custom"})
    assert (status, json.loads(body)) == (200, {"size": 1000})


@pytest.mark.parametrize("mode, size", [("raw", None), ("inflate", 4 * 1024 * 1024)])
def test_compressed_requests_opted_in(host_stack, mode: str, size: Optional[int]) -> None:
    stack = host_stack("trust", env={"COMPRESSED_REQUESTS": mode})
    bomb = _gzip_bomb(4 * 1024 * 1024)
    status, body, _ = request(stack.port, "/upload", method="POST", body=bomb, headers={"Content-Encoding": "gzip"})
    assert (status, json.loads(body)) == (200, {"size": size or len(bomb)})  # raw: exactly the bytes nginx counted


# --- 7. ALLOWED_HOSTS


def test_a_host_outside_allowed_hosts_gets_421_from_nginx(open_dir: Path, stacks: List[HostStack]) -> None:
    stack = trust_app_stack(open_dir, stacks, {"ALLOWED_HOSTS": "example.com, *.example.org"})
    assert stack.proc.poll() is None, stack.output

    def status(host: str, **headers: str) -> int:
        return request(stack.port, "/client", headers={"Host": host, **headers})[0]

    assert status("example.com") == 200
    assert status("www.example.org") == 200
    assert status("EXAMPLE.com:8080") == 200
    assert status("evil.example") == 421
    assert status("example.org") == 421  # *.example.org names only its subdomains
    assert status("example.com.evil.example") == 421
    assert status("evil.example", **{"X-Forwarded-Host": "example.com"}) == 421
    code, body, headers = request(stack.port, "/", headers={"Host": f"127.0.0.1:{stack.port}"})
    assert (code, headers.get("server")) == (421, "nginx") and b"hello" not in body
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")  # no Host at all
        assert conn.recv(4096).startswith(b"HTTP/1.1 421")
    # the stack's own health check still passes
    health = cli(["healthcheck"], {"RUNTIME_DIR": stack.env["RUNTIME_DIR"]})
    assert health.returncode == 0, health.stderr


def raw_exchange(port: int, raw: bytes) -> bytes:
    """One request as written, the whole answer (Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(raw)
        answer = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return answer
            answer += data


def test_an_allowed_host_in_an_absolute_request_target_does_not_smuggle_another_host_header(
    open_dir: Path, stacks: List[HostStack]
) -> None:
    # nginx's $host prefers the request line's host ("GET http://example.com/"), but the app is
    # given the Host header: an allowed name in the target must not carry a forbidden Host through
    stack = trust_app_stack(open_dir, stacks, {"ALLOWED_HOSTS": "example.com"})
    smuggled = raw_exchange(stack.port, b"GET http://example.com/client HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
    assert smuggled.startswith(b"HTTP/1.1 421"), smuggled
    consistent = raw_exchange(stack.port, b"GET http://example.com/client HTTP/1.1\r\nHost: Example.com:80\r\nConnection: close\r\n\r\n")
    assert consistent.startswith(b"HTTP/1.1 200"), consistent
    assert json.loads(consistent.partition(b"\r\n\r\n")[2])["host"] == "Example.com:80"


@pytest.mark.parametrize("value", ["exa mple.com", "*", "a..b", "*.*.example.com", "example.com/", "ex;ample.com"])
def test_a_malformed_allowed_hosts_is_refused_with_one_line(app_env: Dict[str, str], tmp_path: Path, value: str) -> None:
    result = cli(["check"], {**app_env, "RUNTIME_DIR": str(tmp_path / "rt"), "ALLOWED_HOSTS": value})
    assert result.returncode == 2, result
    assert one_line(result).startswith("aiohttp-nginx: ALLOWED_HOSTS=")


def test_without_allowed_hosts_any_host_reaches_the_app(host_stack) -> None:
    stack = host_stack("trust")
    assert request(stack.port, "/", headers={"Host": "anything.example"})[0] == 200


# --- 8. fuzzing the client headers against a running stack


def test_no_header_a_client_sends_chooses_request_remote(host_stack) -> None:
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings
    from hypothesis import strategies as st

    stack = host_stack("trust")
    value = st.one_of(
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40),
        st.sampled_from(
            ["6.6.6.6", "[::1]", "for=6.6.6.6", 'for="[2001:db8::1]";proto=https', "https", "evil.example", "127.0.0.1", "unix:"]
        ),
    )
    names = ["Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "X-Real-IP", "X-Aiohttp-Nginx-Proof"]

    @hsettings(max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(st.sampled_from(names), value, max_size=len(names)))
    def attack(headers: Dict[str, str]) -> None:
        lines = [f"{name}: {text}".encode("latin-1") for name, text in headers.items()]
        raw = b"\r\n".join([b"GET /client HTTP/1.1", *lines, b"Connection: close", b"", b""])
        with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as conn:
            conn.sendall(raw)
            answer = b""
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                answer += data
        head, _, body = answer.partition(b"\r\n\r\n")
        status = int(head.split()[1])
        assert status < 500, answer
        if status == 200:
            seen = json.loads(body)
            assert (seen["remote"], seen["scheme"]) == ("127.0.0.1", "http"), (headers, seen)
            assert [f.get("for") for f in seen["forwarded"]] == ["127.0.0.1"], (headers, seen)

    attack()
    assert stack.proc.poll() is None
