"""supervisord event listener: if gunicorn or nginx stops on its own, stop everything.

A program that exits outside a shutdown (an app that fails to import makes
gunicorn halt; nginx cannot bind its port) must not leave a container that
looks alive.  The listener records the cause in RUNTIME_DIR/run/failed and
asks supervisord to shut down; `aiohttp-nginx start` then exits non-zero
with the cause as its last line.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Dict, TextIO, Tuple

from .control import supervisor

FAILURE_FILE = Path("run") / "failed"


def parse_tokens(line: str) -> Dict[str, str]:
    return dict(token.split(":", 1) for token in line.split() if ":" in token)


def read_event(stdin: TextIO) -> Tuple[Dict[str, str], Dict[str, str]]:
    header = parse_tokens(stdin.readline())
    payload = stdin.read(int(header.get("len", "0")))
    first, _, _ = payload.partition("\n")
    return header, parse_tokens(first)


def describe(event: str, body: Dict[str, str]) -> str:
    name = body.get("processname", "?")
    if event == "PROCESS_STATE_FATAL":
        return f"{name} could not be started"
    return f"{name} exited unexpectedly (pid {body.get('pid', '?')}); its output above says why"


def main(runtime_dir: Path) -> None:
    # supervisord stops us last on shutdown: leave quietly instead of "terminated by SIGTERM"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    out, err = sys.stdout, sys.stderr
    while True:
        out.write("READY\n")
        out.flush()
        header, body = read_event(sys.stdin)
        event = header.get("eventname", "")
        failed = event in ("PROCESS_STATE_FATAL", "PROCESS_STATE_EXITED") and body.get("processname") in ("gunicorn", "nginx")
        if failed:
            cause = describe(event, body)
            (runtime_dir / FAILURE_FILE).write_text(cause + "\n")
            err.write(f"aiohttp-nginx: {cause}; stopping the container\n")
            err.flush()
        out.write("RESULT 2\nOK")
        out.flush()
        if failed:
            try:
                supervisor(runtime_dir).shutdown()
            except Exception as exc:  # noqa: BLE001 - must never crash the listener
                err.write(f"aiohttp-nginx: could not ask supervisord to stop: {exc}\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
