"""`aiohttp-nginx run > stack.log 2>&1`: the stack's output sent to a file by the shell stays whole.

supervisord and nginx open /dev/stdout and /dev/stderr again (with O_APPEND); the stack's own lines
went through the descriptor the shell opened, at its own offset, and overwrote theirs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.corpus import CORPUS, START_FAILED
from tests.support import free_port


def test_output_redirected_to_a_file_keeps_every_line(open_tmp: Path) -> None:
    app_dir = open_tmp / "app"
    shutil.copytree(CORPUS / "fail_startup", app_dir)
    log = open_tmp / "stack.log"
    env = {k: v for k, v in os.environ.items() if k != "RUNTIME_DIR"}
    env.update(LISTEN_PORT=str(free_port()), WEB_CONCURRENCY="2")
    with log.open("w") as out:  # the shell's `>`: no O_APPEND
        proc = subprocess.Popen([sys.executable, "-m", "aiohttp_nginx_base", "run", str(app_dir)], env=env, stdout=out, stderr=out)
        code = proc.wait(60)
    lines = log.read_text().splitlines()
    assert code == 1, lines
    assert lines[0].startswith("aiohttp-nginx: serving app:app on port "), lines[:3]
    # gunicorn's lines, relayed by supervisord, are whole: none starts in the middle of another
    starting = [line for line in lines if "Starting gunicorn" in line]
    assert len(starting) == 1 and starting[0].startswith("["), lines[:5]
    assert lines[-1] == START_FAILED + "app.py:6: ConnectionRefusedError: database:5432 refused the connection", lines[-5:]
