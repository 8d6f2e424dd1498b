"""WORKER_CLASS checked before the stack starts: importable, a gunicorn worker class, and not a combination known not to boot.

Without this, a bad WORKER_CLASS shows up as a traceback in every worker and then
the container dies ("Worker failed to boot"). The check imports the class in a
child process (`python -m aiohttp_nginx_base.workerclass DOTTED`, from APP_DIR as
gunicorn would) so that PID 1 never imports aiohttp; the default class skips it.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from importlib import metadata
from typing import List, Optional, Tuple

from .settings import DEFAULT_WORKER, Settings, SettingsError

EXIT_REFUSED = 2


def _version(text: str) -> Tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def known_not_to_boot(uvloop_worker: bool, aiohttp_version: str, uvloop_version: Optional[str]) -> Optional[str]:
    """The combinations whose workers cannot boot, reproduced: why, and what to do instead.

    aiohttp's GunicornUVLoopWebWorker.init_process calls asyncio.get_event_loop()
    before creating a loop, and again (via GunicornWebWorker.init_process) after
    installing uvloop.EventLoopPolicy. uvloop 0.22 reimplemented that policy:
    its get_event_loop() raises "There is no current event loop" when none was
    set, where asyncio's created one. aiohttp 3.13.4 catches the RuntimeError.
    """
    if uvloop_worker and uvloop_version and _version(uvloop_version) >= (0, 22) and _version(aiohttp_version) < (3, 13, 4):
        return (
            f"aiohttp {aiohttp_version}'s uvloop worker does not boot with uvloop {uvloop_version} "
            "(asyncio.get_event_loop() raises under uvloop>=0.22's policy; fixed in aiohttp 3.13.4): "
            f"leave WORKER_CLASS unset (the default, {DEFAULT_WORKER}, runs uvloop too)"
        )
    return None


def problem(dotted: str) -> Optional[str]:
    """Why the class cannot serve, or None. Imports it (and so the app's code if it lives there)."""
    module_name, _, name = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import-time error is the user's to see, in one line
        return f"cannot import {module_name}: {type(exc).__name__}: {exc}"
    cls = getattr(module, name, None)
    if cls is None:
        return f"{module_name} has no attribute {name}"
    from gunicorn.workers.base import Worker

    if not (isinstance(cls, type) and issubclass(cls, Worker)):
        return "not a gunicorn worker class (a subclass of gunicorn.workers.base.Worker)"
    try:
        from aiohttp import __version__ as aiohttp_version
        from aiohttp.worker import GunicornUVLoopWebWorker
    except ImportError:
        return None
    uvloop_version: Optional[str]
    try:
        uvloop_version = metadata.version("uvloop")
    except metadata.PackageNotFoundError:
        uvloop_version = None
    return known_not_to_boot(issubclass(cls, GunicornUVLoopWebWorker), aiohttp_version, uvloop_version)


def verify(current: Settings) -> None:
    """Raise SettingsError (one line, exit 2) when WORKER_CLASS would not boot."""
    if current.worker_class == DEFAULT_WORKER:
        return
    result = subprocess.run(
        [sys.executable, "-m", __name__, current.worker_class],
        cwd=str(current.app_dir) if current.app_dir.is_dir() else None,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode == EXIT_REFUSED:
        raise SettingsError("WORKER_CLASS", current.worker_class, result.stdout.strip())
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise SettingsError("WORKER_CLASS", current.worker_class, f"checking it failed: {lines[-1] if lines else result.returncode}")


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, ".")  # gunicorn imports from its chdir (APP_DIR) too
    found = problem(args[0])
    if found:
        print(found)
        return EXIT_REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main())
