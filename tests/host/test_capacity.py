"""Issue 13 on the host: the listen backlogs the stack asks for are the ones the kernel holds."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import wait_until


def listen_backlog(kind: str, name: str) -> int:
    """The backlog of a listening socket as `ss` reports it (Send-Q of a listener)."""
    rows = subprocess.run(["ss", "-Hnl", kind], stdout=subprocess.PIPE, text=True, timeout=10, check=True).stdout.splitlines()
    for row in rows:
        fields = row.split()
        if name in fields:
            return int(fields[3] if kind == "-x" else fields[2])
    raise AssertionError(f"no listener {name} in `ss -Hnl {kind}`:\n" + "\n".join(rows))


@pytest.mark.skipif(not shutil.which("ss"), reason="needs ss (iproute2)")
def test_backlog_is_what_gunicorns_unix_socket_and_nginxs_port_listen_with(host_stack, open_tmp: Path) -> None:
    runtime = open_tmp / "runtime"
    stack = host_stack(env={"RUNTIME_DIR": str(runtime), "BACKLOG": "300", "WEB_CONCURRENCY": "2"})
    sock = str(runtime / "run" / "gunicorn.sock")
    # aiohttp's sites listen again with their own 128 as each worker starts; the worker restores BACKLOG
    wait_until(lambda: listen_backlog("-x", sock) == 300, 10, f"{sock} to listen with backlog 300")
    assert listen_backlog("-t", f"0.0.0.0:{stack.port}") == 300
