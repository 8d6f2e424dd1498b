"""Every private attribute of aiohttp and supervisor the runtime relies on, one test each, named after it.

pyproject.toml bounds aiohttp and supervisor from above because of these; the compatibility
matrix runs them at both ends of the ranges, so an upstream change fails the one test that
names what changed, not a container.
"""

from __future__ import annotations

import inspect

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aiohttp.worker import GunicornWebWorker


def test_aiohttp_application_make_request() -> None:
    # worker.add_real_client wraps it to fill in the client's address as each request is made
    assert callable(web.Application()._make_request)


def test_aiohttp_request_cache() -> None:
    # worker.apply_client_headers fills request.remote and request.scheme through it
    request = make_mocked_request("GET", "/", headers={"Host": "example.com"})
    assert isinstance(request._cache, dict)
    request._cache["remote"] = "198.51.100.4"
    request._cache["scheme"] = "https"
    assert (request.remote, request.scheme) == ("198.51.100.4", "https")


def test_aiohttp_worker_run() -> None:
    # worker.Worker._run wraps the app and runs the --reload watcher around it
    assert inspect.iscoroutinefunction(GunicornWebWorker._run)


def test_aiohttp_worker_notify_waiter_done() -> None:
    # worker.Worker._stop_now calls it so a stop starts at once, not at the next 1-second tick
    assert callable(getattr(GunicornWebWorker, "_notify_waiter_done", None))
    assert "waiter" in inspect.signature(GunicornWebWorker._notify_waiter_done).parameters


def test_aiohttp_worker_get_valid_log_format() -> None:
    # worker.aiohttp_runner builds the AppRunner as aiohttp's worker does, access-log format included
    assert callable(getattr(GunicornWebWorker, "_get_valid_log_format", None))
    worker = GunicornWebWorker.__new__(GunicornWebWorker)
    assert worker._get_valid_log_format('%a "%r" %s') == '%a "%r" %s'
    assert worker._get_valid_log_format(GunicornWebWorker.DEFAULT_GUNICORN_LOG_FORMAT) == GunicornWebWorker.DEFAULT_AIOHTTP_LOG_FORMAT


def test_supervisor_server_options_poller() -> None:
    # stack.py registers its wake-up pipe with it and wraps poll() for prompt starts and stops
    from supervisor.options import ServerOptions

    poller = ServerOptions().poller
    assert callable(poller.poll) and callable(poller.register_readable)


def test_supervisor_server_options_setsignals() -> None:
    # stack.py replaces it to install its own handlers after supervisord's
    from supervisor.options import ServerOptions

    assert callable(ServerOptions().setsignals)


def test_supervisor_options_mood() -> None:
    # stack.py reads and sets options.mood (SupervisorStates) to stop supervisord's loop
    from supervisor.states import SupervisorStates

    assert SupervisorStates.SHUTDOWN < SupervisorStates.RUNNING
    source = inspect.getsource(__import__("supervisor.supervisord", fromlist=["Supervisor"]).Supervisor.runforever)
    assert "self.options.mood" in source
