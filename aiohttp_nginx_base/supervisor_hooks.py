"""Every use of supervisor's internals, one small function each.

supervisor has no API for running its main loop inside another program, so
stack.py reaches into ServerOptions, its poller and its events here, and only
here. Each function is pinned by a unit test that names the attribute it
relies on (tests/unit/test_supervisor_hooks.py): an upstream change fails one
clear test instead of a stack that no longer stops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

PollResult = Tuple[List[int], List[int]]
Poll = Callable[[float], PollResult]


def server_options(conf: Path) -> Any:
    """supervisord's options from `conf`, set up as supervisord.main() does before go()."""
    from supervisor.options import ServerOptions

    options = ServerOptions()
    options.realize(["-c", str(conf)])
    options.first, options.test = True, False
    return options


def program_commands(conf: Path) -> Dict[str, str]:
    """Each program's command line as supervisord reads it from `conf` (options.process_config,
    process_group_configs); raises ValueError when supervisord rejects the file."""
    from supervisor.options import ServerOptions

    options = ServerOptions()
    options.configfile = str(conf)
    options.process_config(do_usage=False)
    return {p.name: str(p.command) for group in options.process_group_configs for p in group.process_configs}


def run_loop(options: Any) -> None:
    """supervisord's main loop until it shuts down, then what supervisord.main() closes."""
    from supervisor import supervisord

    supervisord.go(options)
    options.close_httpservers()
    options.close_logger()


def after_setsignals(options: Any, install: Callable[[], None]) -> None:
    """Run `install` right after supervisord installs its signal handlers (options.setsignals),
    which it does after clearing event subscriptions: the place for our handlers and subscriptions."""
    original = options.setsignals

    def setsignals() -> None:
        original()
        install()

    options.setsignals = setsignals


def wrap_poll(options: Any, wrapper: Callable[[Poll, float], PollResult]) -> None:
    """Route supervisord's poll (options.poller.poll) through `wrapper(original_poll, timeout)`."""
    original: Poll = options.poller.poll
    options.poller.poll = lambda timeout: wrapper(original, timeout)


def watch_readable(options: Any, fd: int) -> None:
    """Make the next poll wake up when `fd` is readable (options.poller.register_readable)."""
    options.poller.register_readable(fd)


def is_running(options: Any) -> bool:
    from supervisor.states import SupervisorStates

    return bool(options.mood == SupervisorStates.RUNNING)


def is_stopping(options: Any) -> bool:
    """supervisord is shutting down (options.mood below RUNNING)."""
    from supervisor.states import SupervisorStates

    return bool(options.mood < SupervisorStates.RUNNING)


def shut_down(options: Any) -> None:
    """Make the loop stop every program and end, as on SIGTERM (options.mood = SHUTDOWN)."""
    from supervisor.states import SupervisorStates

    options.mood = SupervisorStates.SHUTDOWN


def deliver_signal(options: Any, sig: int) -> None:
    """Hand `sig` to supervisord as if it had caught it (options.signal_receiver.receive)."""
    options.signal_receiver.receive(sig, None)


def subscribe_programs(on_running: Callable[[Any], None], on_end: Callable[[Any], None]) -> None:
    """Call back when a program reaches RUNNING, and when it exits or fails to start."""
    from supervisor import events

    events.subscribe(events.ProcessStateRunningEvent, on_running)
    events.subscribe(events.ProcessStateExitedEvent, on_end)
    events.subscribe(events.ProcessStateFatalEvent, on_end)


def program_of(event: Any) -> Tuple[str, int, Optional[int]]:
    """A process state event's program: its name, pid and exit status (None: never started)."""
    process = event.process
    return str(process.config.name), int(process.pid), process.exitstatus
