"""The stack's messages share stderr with nginx, supervisord, gunicorn's arbiter and every worker."""

import io
import subprocess
import sys
from typing import List

import pytest

from aiohttp_nginx_base.say import say


class Writes(io.StringIO):
    """A stream that remembers each write call, as write(2) calls reach an unbuffered pipe."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: List[str] = []

    def write(self, text: str) -> int:
        self.calls.append(text)
        return super().write(text)


def test_a_line_and_its_newline_go_out_in_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    # with PYTHONUNBUFFERED=1 (the images set it) print() wrote the text and "\n" in two calls, and
    # gunicorn's "Booting worker" line landed between them, glued to the end of ours (CI, python3.14)
    stream = Writes()
    monkeypatch.setattr(sys, "stderr", stream)
    say("app.py:24 calls web.run_app()")
    assert stream.calls == ["aiohttp-nginx: app.py:24 calls web.run_app()\n"]


def test_a_closed_stderr_is_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    stream.close()
    monkeypatch.setattr(sys, "stderr", stream)
    say("still here")  # must not raise
    monkeypatch.setattr(sys, "stderr", None)
    say("still here")


def test_many_processes_writing_at_once_leave_every_line_whole() -> None:
    # the real thing: unbuffered interpreters writing to one pipe at the same moment
    lines = 400
    script = (
        "import sys\n"
        "from aiohttp_nginx_base.say import say\n"
        f"for i in range({lines}): say(f'{{sys.argv[1]}} line {{i}} ' + 'x' * 200)\n"
    )
    command = " & ".join(f"{sys.executable} -c \"{script}\" w{n}" for n in range(4)) + " & wait"
    result = subprocess.run(
        ["sh", "-c", command], env={"PYTHONUNBUFFERED": "1", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60
    )
    said = result.stderr.splitlines()
    assert len(said) == 4 * lines, result.stderr[-500:]
    assert all(line.startswith("aiohttp-nginx: w") and line.endswith("x" * 200) for line in said)


def test_a_message_is_one_line_whatever_it_carries(monkeypatch: pytest.MonkeyPatch) -> None:
    # an exception message or a path may hold a newline or a terminal escape: it must not start a line of its own
    stream = Writes()
    monkeypatch.setattr(sys, "stderr", stream)
    say("app.py:3: ValueError: bad\naiohttp-nginx: all good\x1b[2K\r")
    assert stream.calls == ["aiohttp-nginx: app.py:3: ValueError: bad\\naiohttp-nginx: all good\\x1b[2K\\r\n"]


def test_a_long_message_is_cut_within_one_atomic_pipe_write(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = Writes()
    monkeypatch.setattr(sys, "stderr", stream)
    say("x" * 100_000)
    (line,) = stream.calls
    assert len(line.encode()) <= 4096 and line.endswith(" ... (cut here)\n")
