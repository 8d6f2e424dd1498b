"""Talk to the running supervisord over its unix socket (no TCP listener exists)."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any
from xmlrpc.client import ServerProxy


def supervisor(runtime_dir: Path) -> Any:
    from supervisor.xmlrpc import SupervisorTransport

    conf = configparser.RawConfigParser()
    conf.read(runtime_dir / "supervisord.conf")
    user, password = conf.get("supervisorctl", "username"), conf.get("supervisorctl", "password")
    transport = SupervisorTransport(user, password, f"unix://{runtime_dir}/run/supervisor.sock")
    return ServerProxy("http://127.0.0.1", transport=transport).supervisor


def signal_program(runtime_dir: Path, name: str, signal_name: str) -> None:
    supervisor(runtime_dir).signalProcess(name, signal_name)
