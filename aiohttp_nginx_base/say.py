"""The stack's own one-line messages on stderr.

nginx, supervisord, gunicorn's arbiter and every worker write to the same stderr. The images set
PYTHONUNBUFFERED=1, which makes sys.stderr write through: print() then issues the text and its
newline as two write(2) calls, and another process's line can land between them (a gunicorn
"Booting worker" line glued to the end of ours was seen in CI). A line written with one call of
at most PIPE_BUF bytes reaches a pipe whole.
"""

import fcntl
import os
import re
import stat
import sys

PREFIX = "aiohttp-nginx: "
# at most this many characters a message: with the prefix, the newline and UTF-8, within Linux's
# PIPE_BUF (4,096 bytes) in the common case of ASCII text
LIMIT = 3800
# a message is one line: what would start another (or move the cursor) is shown escaped
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(message: str, limit: int = LIMIT) -> str:
    """`message` as one line: control characters escaped, cut at `limit` characters with a mark."""
    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], message)
    return text if len(text) <= limit else text[: limit - 15] + " ... (cut here)"


def say(message: str) -> None:
    """Write `aiohttp-nginx: message` and its newline to stderr in one write call."""
    line = f"{PREFIX}{one_line(message)}\n"
    stream = sys.stderr
    if stream is None:  # pythonw, or stderr closed by a daemonising parent: nowhere to say it
        return
    try:
        stream.write(line)
        stream.flush()
    except (OSError, ValueError):  # a closed pipe or stream must not turn a message into a traceback
        pass


def share_output_files() -> None:
    """Make stdout and stderr append-only when they are regular files (`aiohttp-nginx run > stack.log 2>&1`).

    supervisord and nginx open /dev/stdout and /dev/stderr again, with O_APPEND, and write at the
    file's end; the descriptors inherited from the shell's `>` write at their own offset, so each of
    our lines (and prestart.sh's) overwrote what they had written there. A pipe or terminal (a
    container's output) is left alone.
    """
    for fd in (1, 2):
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
        except OSError:  # closed, or a file system that refuses: output as before
            pass
