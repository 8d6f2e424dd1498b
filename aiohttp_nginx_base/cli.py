"""`aiohttp-nginx`: each verb is one stage of environment -> settings -> configs -> processes."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import control, doctor, health, prestart, processes, runtime, settings, stack, versions, workerclass
from .host import NginxMissing, gather
from .prestart import StopGuard
from .say import say, share_output_files
from .settings import SettingsError

EXIT_BAD_INPUT = 2
EXIT_NO_NGINX = 127


def cmd_config(args: argparse.Namespace) -> int:
    print(json.dumps(settings.load().as_dict(), indent=2, sort_keys=True))
    return 0


def cmd_variables(args: argparse.Namespace) -> int:
    if args.markdown:
        print(settings.markdown_table())
        return 0
    for var in settings.VARIABLES:
        default = "(unset)" if var.default is None else var.default
        print(f"{var.name}={default}\n    {var.help}\n    allowed: {var.allowed}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    host = gather()
    current = settings.load(host=host)
    out = Path(args.out).resolve() if args.out else None
    if out is None:
        # a running stack's configs and per-start secret are its own: overwritten, its next worker
        # would read a secret nginx does not send (and lose the client address) - reload re-renders
        running, _ = control.find_stack(current.runtime_dir)
        if running is not None:
            raise SettingsError(
                "RUNTIME_DIR", str(current.runtime_dir), f"a directory no running stack uses (pid {running} does: use --out DIR, or reload)"
            )
        runtime.prepare(current, host)
    for path in runtime.render_into(current, host, out).values():
        print(path)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    host = gather()
    current = settings.load(host=host)
    workerclass.verify(current)
    result = stack.nginx_test(current, host)
    if result.returncode != 0:
        print(result.stdout.rstrip(), file=sys.stderr)
        say("nginx rejected the generated configuration")
        return 1
    problem = stack.supervisord_test(current, host)
    if problem:
        say(problem)
        return 1
    print("configuration ok")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    return _start(dict(os.environ), reload_code=args.reload, cleanup=args.cleanup)


def _start(env: Dict[str, str], reload_code: bool, cleanup: bool) -> int:
    """The one way up, for the image and host mode: the prestart hook is sourced first (its
    exports count), then the settings are validated on the environment it leaves."""
    share_output_files()
    guard = StopGuard()
    guard.install()
    hooked = prestart.run(env, guard)
    try:
        if hooked.exit_status:
            processes.end_group(hooked.group)
            return hooked.exit_status
        host = gather()
        current = settings.load(hooked.env, host=host)
        # what supervisord starts inherits it: the hook's exports reach the app
        os.environ.clear()
        os.environ.update(hooked.env)
        workerclass.verify(current)  # imports the class in a child, with the hook's exports
    except BaseException:
        processes.end_group(hooked.group)
        raise
    return stack.start(
        current, host, reload_code=reload_code, cleanup=cleanup, env=hooked.env, guard=guard, prestart_group=hooked.group
    )


def cmd_run(args: argparse.Namespace) -> int:
    """Host mode: `start` with defaults that suit a developer's machine."""
    app_dir = Path(args.app_dir).resolve()
    env = dict(os.environ)
    env["APP_DIR"] = str(app_dir)
    env.setdefault("LISTEN_PORT", str(args.port or 8080))
    if args.port:
        env["LISTEN_PORT"] = str(args.port)
    cleanup = "RUNTIME_DIR" not in env
    if cleanup:
        env["RUNTIME_DIR"] = tempfile.mkdtemp(prefix="aiohttp-nginx-")
    # the host's own nginx additions are not meant for this stack
    env.setdefault("NGINX_CONF_DIR", str(app_dir / "nginx.conf.d"))
    os.chdir(app_dir)
    try:
        return _start(env, reload_code=args.reload, cleanup=cleanup)
    finally:
        if cleanup and os.path.isdir(env["RUNTIME_DIR"]):
            shutil.rmtree(env["RUNTIME_DIR"], ignore_errors=True)


def cmd_healthcheck(args: argparse.Namespace) -> int:
    current = settings.load_location()
    # the running stack's own values win: prestart.sh may have exported others than `docker exec` sees
    try:
        state = stack.running_state(current.runtime_dir)
        port, path, allowed = (
            _state_location(state) if state else (current.listen_port, current.healthcheck_path, current.allowed_hosts)
        )
    except control.StateError as exc:
        say(f"unhealthy: {exc}")
        return 1
    except (KeyError, TypeError, ValueError):
        say(f"unhealthy: {current.runtime_dir / control.STATE_FILE} names no usable port and path")
        return 1
    proxy_protocol = bool(state.get("proxy_protocol", current.proxy_protocol)) if state else current.proxy_protocol
    problem = health.probe(
        port,
        path,
        timeout=args.timeout, host=health.allowed_host(allowed),
        draining_flag=current.runtime_dir / settings.DRAINING_FLAG,
        proxy_protocol=proxy_protocol,
    )
    if problem:
        say(f"unhealthy: {problem}")
        return 1
    return 0


def _state_location(state: Dict[str, Any]) -> Tuple[int, str, Optional[List[str]]]:
    """(port, path, allowed hosts) from the running stack's state; ValueError when they are not sane."""
    port, path, allowed = int(state["listen_port"]), state["healthcheck_path"], state.get("allowed_hosts")
    if not 0 < port < 65536 or not isinstance(path, str) or not path.startswith("/"):
        raise ValueError("not a port and path")
    if allowed is not None and not (isinstance(allowed, list) and all(isinstance(h, str) for h in allowed)):
        raise ValueError("not a list of hosts")
    return port, path, allowed


def cmd_reload(args: argparse.Namespace) -> int:
    ok, line = control.request_reload(settings.load_location().runtime_dir, args.timeout)
    say(line)
    return 0 if ok else 1


# Everything the stack's processes import on the way to the first response.
STARTUP_MODULES = (
    "aiohttp_nginx_base.stack",
    "aiohttp_nginx_base.waitfor",
    "aiohttp_nginx_base.worker",
    "aiohttp_nginx_base.health",
    "supervisor.supervisord",
    "supervisor.options",
    "supervisor.process",
    "supervisor.http",
    "supervisor.rpcinterface",
    "gunicorn.app.wsgiapp",
    "gunicorn.arbiter",
    "gunicorn.glogging",
    "gunicorn.workers.base",
    "aiohttp.web",
    "aiohttp.worker",
    "asyncio",
    "json",
    "http.client",
)


def cmd_precompile(args: argparse.Namespace) -> int:
    """Import the start-up modules once so their bytecode is cached in the image.

    Official python images ship the standard library without .pyc files; each
    container start would compile the same modules again (and cannot keep the
    result on a read-only root), which costs about a second.
    """
    import importlib

    for name in STARTUP_MODULES + (("uvloop",) if sys.platform != "win32" else ()):
        importlib.import_module(name)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiohttp-nginx",
        description="Run an aiohttp app behind nginx and gunicorn, supervised by supervisord. "
        "Everything is configured with environment variables: see `aiohttp-nginx variables`.",
    )
    parser.add_argument("--version", action=versions.VersionAction)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    handlers: Dict[str, Callable[[argparse.Namespace], int]] = {}

    def verb(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        handlers[name] = func
        sub = verbs.add_parser(name, help=help_, description=help_)
        sub.set_defaults(func=func)
        return sub

    verb("config", cmd_config, "Print the effective settings as JSON (after validation).")
    sub = verb("variables", cmd_variables, "List every environment variable, its default and what it allows.")
    sub.add_argument("--markdown", action="store_true", help="as the README's Markdown table")
    sub = verb("render", cmd_render, "Write nginx.conf, gunicorn.json and supervisord.conf (default: into RUNTIME_DIR).")
    sub.add_argument("--out", metavar="DIR", help="write into DIR instead")
    verb("check", cmd_check, "Validate the settings and run `nginx -t` on the generated nginx config.")
    sub = verb("start", cmd_start, "Validate, render and run supervisord with gunicorn and nginx (what /start.sh runs).")
    sub.add_argument("--reload", action="store_true", help="restart workers when the app's files change (development)")
    sub.add_argument("--cleanup", action="store_true", help=argparse.SUPPRESS)
    sub = verb("run", cmd_run, "Host mode: run the whole stack here without Docker, on port 8080 by default; Ctrl-C stops it gracefully.")
    sub.add_argument("app_dir", nargs="?", default=".", metavar="APP_DIR", help="directory holding app.py (default: .)")
    sub.add_argument("--port", type=int, help="LISTEN_PORT (default 8080 here)")
    sub.add_argument("--reload", action="store_true", help="restart workers when the app's files change")
    sub = verb(
        "healthcheck", cmd_healthcheck, "Exit 0 only when not draining and a request through nginx reaches the app (for HEALTHCHECK)."
    )
    sub.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer (default 5)")
    verb("precompile", cmd_precompile, "Cache the bytecode of the modules the stack imports at start-up (image builds run it).")
    sub = verb("doctor", doctor.run, "Say what this machine lacks for host mode and for the tests, and the line that installs it.")
    doctor.add_arguments(sub)
    sub = verb("reload", cmd_reload, "Re-render the configs and reload nginx and gunicorn in the running stack, without dropping requests.")
    sub.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the stack's answer (default 30)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        say(str(exc))
        return EXIT_BAD_INPUT
    except NginxMissing as exc:
        say(str(exc))
        return EXIT_NO_NGINX
    except KeyboardInterrupt:
        return 130
