"""supervisor's internals that stack.py relies on, each through one function of supervisor_hooks.

One test per attribute: when supervisor changes one, the test naming it fails.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator, List

import pytest
from supervisor import events
from supervisor.states import SupervisorStates

from aiohttp_nginx_base import render, runtime
from aiohttp_nginx_base import supervisor_hooks as hooks
from aiohttp_nginx_base.host import gather
from aiohttp_nginx_base.settings import load


@pytest.fixture
def conf(app_dir: Path, tmp_path: Path) -> Path:
    s = load({"APP_DIR": str(app_dir), "RUNTIME_DIR": str(tmp_path / "rt")}, cpu_count=lambda: 1)
    host = gather()
    runtime.prepare(s, host)
    return runtime.render_into(s, host)[render.SUPERVISORD_CONF]


@pytest.fixture
def options(conf: Path) -> Any:
    return hooks.server_options(conf)


def test_options_process_config_and_process_group_configs_give_the_program_commands(conf: Path) -> None:
    commands = hooks.program_commands(conf)
    assert set(commands) == {"gunicorn", "nginx"}
    assert " -m gunicorn " in commands["gunicorn"]


@pytest.fixture
def saved_signal_handlers() -> Iterator[None]:
    watched = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR2)
    saved = {sig: signal.getsignal(sig) for sig in watched}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_options_realize_first_and_test_load_our_rendered_config(options: Any) -> None:
    names = {p.name for group in options.process_group_configs for p in group.process_configs}
    assert names == {"gunicorn", "nginx"}
    assert (options.first, options.test) == (True, False)


def test_options_setsignals_is_a_method_our_handlers_run_after(options: Any, saved_signal_handlers: None) -> None:
    calls: List[str] = []
    hooks.after_setsignals(options, lambda: calls.append("ours"))
    options.setsignals()
    assert calls == ["ours"]
    assert signal.getsignal(signal.SIGTERM) == options.signal_receiver.receive  # supervisord's went in first


def test_options_poller_poll_can_be_wrapped_and_register_readable_watches_an_fd(options: Any) -> None:
    seen: List[float] = []

    def wrapper(poll: hooks.Poll, timeout: float) -> hooks.PollResult:
        seen.append(timeout)
        return poll(0)

    hooks.wrap_poll(options, wrapper)
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"x")
        hooks.watch_readable(options, read_end)
        readable, _ = options.poller.poll(5)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert seen == [5]
    assert read_end in readable


def test_options_mood_orders_shutdown_below_running(options: Any) -> None:
    options.mood = SupervisorStates.RUNNING
    assert hooks.is_running(options) and not hooks.is_stopping(options)
    hooks.shut_down(options)
    assert options.mood == SupervisorStates.SHUTDOWN
    assert hooks.is_stopping(options) and not hooks.is_running(options)


def test_options_signal_receiver_receive_queues_a_signal(options: Any) -> None:
    hooks.deliver_signal(options, signal.SIGTERM)
    assert options.signal_receiver.get_signal() == signal.SIGTERM


def test_process_state_events_carry_process_config_name_pid_and_exitstatus() -> None:
    seen: List[Any] = []
    hooks.subscribe_programs(lambda e: seen.append(("running", hooks.program_of(e))), lambda e: seen.append(("end", hooks.program_of(e))))
    try:
        process = SimpleNamespace(config=SimpleNamespace(name="nginx"), pid=42, exitstatus=3)
        events.notify(events.ProcessStateRunningEvent(process, None))
        events.notify(events.ProcessStateExitedEvent(process, None))
        events.notify(events.ProcessStateFatalEvent(process, None))
    finally:
        events.clear()
    assert seen == [("running", ("nginx", 42, 3)), ("end", ("nginx", 42, 3)), ("end", ("nginx", 42, 3))]
