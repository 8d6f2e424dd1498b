"""How `aiohttp-nginx reload` (run later, through `docker exec`) finds the running stack and hears back from it.

- The state file is believed only if it is the stack's own: in a directory nobody else can
  write to, owned like that directory; and the pid it names must be a running
  `aiohttp-nginx start` of that same user, started when the state file says (a pid reused
  by another process is not signalled).
- The stack answers each SIGHUP in a small result file it allocated at start and
  overwrites in place, so even a full RUNTIME_DIR can carry the answer back.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from . import private

STATE_FILE = Path("run") / "state.json"
RESULT_FILE = Path("run") / "reload-result"
RESULT_SIZE = 4096
STATE_LIMIT = 65536  # bytes read at most from the state or result file
STACK_VERBS = ("start", "run")  # `aiohttp-nginx start`, or host mode's `run`, which becomes the stack


def _proc_facts(pid: int) -> Optional[Tuple[int, List[str], Optional[str]]]:
    """(real uid, argv, start time in clock ticks) of a process, or None when it does not exist."""
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").exists():
        try:
            argv = proc.joinpath("cmdline").read_bytes().decode("utf-8", "replace").split("\0")
            stat_fields = proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()
            uid = proc.stat().st_uid
        except (OSError, IndexError):
            return None
        return uid, [a for a in argv if a], stat_fields[19]
    try:  # macOS and the BSDs: no /proc
        out = subprocess.run(["ps", "-o", "uid=,command=", "-p", str(pid)], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return None
    if not out.strip():
        return None
    uid_text, _, command = out.strip().partition(" ")
    return int(uid_text), command.split(), None


def identity() -> Dict[str, Any]:
    """What the state file records about the running stack, so that `reload` can recognise it."""
    facts = _proc_facts(os.getpid())
    return {"pid": os.getpid(), "uid": os.geteuid(), "started": facts[2] if facts else None}


def _is_stack(argv: List[str]) -> bool:
    names = {Path(a).name for a in argv}
    return bool(set(STACK_VERBS) & set(argv)) and bool(names & {"aiohttp_nginx_base", "aiohttp-nginx", "__main__.py"})


class StateError(Exception):
    """A file at the state or result file's name that the stack did not write (one line)."""


def read_json(path: Path) -> Optional[Tuple[Dict[str, Any], os.stat_result]]:
    """A small JSON object and the stat of the file it came from; None when there is no file.

    Whoever owns RUNTIME_DIR chooses what is at these names: a symlink is not followed, and
    a FIFO (which would block), a device such as /dev/zero (endless) or a huge file is refused.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        why = "a symlink" if exc.errno == errno.ELOOP else exc.strerror
        raise StateError(f"{path} is not a state file this stack wrote ({why})") from None
    try:
        info = os.fstat(fd)
        data = os.read(fd, STATE_LIMIT + 1) if stat.S_ISREG(info.st_mode) else b""
    finally:
        os.close(fd)
    if not stat.S_ISREG(info.st_mode) or len(data) > STATE_LIMIT:
        raise StateError(f"{path} is not a state file this stack wrote (not a small regular file)")
    try:
        value = json.loads(data)
    except ValueError:
        raise StateError(f"{path} is not a state file this stack wrote (not JSON)") from None
    if not isinstance(value, dict):
        raise StateError(f"{path} is not a state file this stack wrote (not a JSON object)")
    return value, info


def find_stack(runtime_dir: Path) -> Tuple[Optional[int], str]:
    """(pid of the running stack, '') or (None, why not) - one line."""
    state_path = runtime_dir / STATE_FILE
    try:
        top = os.stat(runtime_dir)
        found = read_json(state_path)
    except (FileNotFoundError, NotADirectoryError):
        found = None
    except StateError as exc:
        return None, f"{exc}: not signalling anything"
    except OSError as exc:
        return None, f"{runtime_dir} cannot be read ({exc.strerror}): not signalling anything"
    if found is None:
        return None, f"no running stack found in {runtime_dir} (is RUNTIME_DIR the same as the stack's?)"
    state, state_info = found
    try:
        pid = int(state["pid"])
    except (KeyError, TypeError, ValueError):
        return None, f"{state_path} is not a state file this stack wrote: not signalling anything"
    writable = private.GROUP_OTHER_WRITE
    if state_info.st_uid != top.st_uid or (top.st_mode | state_info.st_mode) & writable:
        return (
            None,
            f"{state_path} is not the stack's own (writable by others, or owned unlike {runtime_dir}): not signalling pid {pid}",
        )
    facts = _proc_facts(pid) if pid > 0 else None
    if facts is None:
        return None, f"the stack that wrote {state_path} (pid {pid}) is not running"
    uid, argv, started = facts
    if uid != top.st_uid or not _is_stack(argv) or (state.get("started") and started and started != state["started"]):
        return None, f"pid {pid} named in {state_path} is not a running aiohttp-nginx stack of uid {top.st_uid}: not signalling it"
    return pid, ""


def prepare_result(runtime_dir: Path) -> None:
    """Allocate the result file: later answers overwrite it in place, needing no free space."""
    private.write_private_files(runtime_dir / RESULT_FILE.parent, {RESULT_FILE.name: " " * RESULT_SIZE})


def record_result(runtime_dir: Path, count: int, ok: bool, message: str) -> None:
    payload = json.dumps({"count": count, "ok": ok, "message": message[:1000]}).encode()
    try:
        fd = private.open_existing_private(runtime_dir / RESULT_FILE)
    except OSError:
        return  # `reload` reports that no answer came
    try:
        os.pwrite(fd, payload.ljust(RESULT_SIZE)[:RESULT_SIZE], 0)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_result(runtime_dir: Path) -> Optional[Dict[str, Any]]:
    try:
        found = read_json(runtime_dir / RESULT_FILE)
    except (OSError, StateError):
        return None  # not written yet, or read while being overwritten
    return found[0] if found else None


def request_reload(runtime_dir: Path, timeout: float) -> Tuple[bool, str]:
    """SIGHUP the running stack and wait for its answer: (ok, one line)."""
    pid, problem = find_stack(runtime_dir)
    if pid is None:
        return False, problem
    before = (read_result(runtime_dir) or {}).get("count", 0)
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = read_result(runtime_dir)
        if result and result.get("count", 0) > before:
            if result.get("ok"):
                return True, f"the stack (pid {pid}) re-rendered its configs and reloaded nginx and gunicorn"
            return False, f"reload failed: {result.get('message')}; the stack (pid {pid}) keeps running with its previous configs"
        time.sleep(0.02)  # polling the stack's answer, bounded by the deadline
    return False, f"the stack (pid {pid}) did not answer the reload within {timeout:g} s"
