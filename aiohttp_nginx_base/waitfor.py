"""`python -m aiohttp_nginx_base.waitfor SOCKET SECONDS -- COMMAND...`

Exec COMMAND once a unix socket accepts connections: supervisord starts nginx
through this, so nginx never answers 502 while gunicorn is still booting.
Kept to the standard library: it runs on every start.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from typing import List

from .say import say


def wait_for_socket(path: str, seconds: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.connect(path)
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)


def main(argv: List[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python -m aiohttp_nginx_base.waitfor SOCKET SECONDS -- COMMAND...", file=sys.stderr)
        return 2
    path, seconds, command = argv[0], float(argv[1]), argv[3:]
    if not wait_for_socket(path, seconds):
        say(f"gunicorn did not listen on {path} within {seconds:g} s; not starting nginx")
        return 1
    if os.geteuid() == 0:
        # gunicorn chowns its socket to its own group; hand it to the socket
        # directory's group (nginx's workers), which is all that may open it
        os.chown(path, -1, os.stat(os.path.dirname(path)).st_gid)
    os.execvp(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
