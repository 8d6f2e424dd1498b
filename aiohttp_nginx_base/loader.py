"""Find the app that APP_MODULE names, in each gunicorn worker, written the ways people write aiohttp apps.

Accepted: a `web.Application`; a function returning one (called here, once per worker); an async
function returning a `web.Application` or `web.AppRunner` (awaited by the worker); either with
gunicorn's `factory(literal args)` syntax. A module that calls `web.run_app(...)` at import time,
as aiohttp's own examples do, is served too: the call is caught while the module loads, its app is
taken, and the rest of the module does not run.

Anything else is a LoadError with one line, `file:line: what`; the worker reports it.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
import traceback
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Optional, Union, cast

from aiohttp import web

from . import appspec

ACCEPTED = "a web.Application, a function returning one, or an async function returning a web.Application or web.AppRunner"

# run_app's arguments, each with why it is not used here (what replaces it)
_LISTENING = "nginx listens on LISTEN_PORT"
RUN_APP_IGNORED: Dict[str, str] = {
    "host": _LISTENING,
    "port": _LISTENING,
    "path": _LISTENING,
    "sock": _LISTENING,
    "backlog": _LISTENING,
    "reuse_address": _LISTENING,
    "reuse_port": _LISTENING,
    "access_log": "nginx writes the access log: set ACCESS_LOG",
    "access_log_class": "nginx writes the access log: set ACCESS_LOG",
    "access_log_format": "nginx writes the access log: set ACCESS_LOG",
    "shutdown_timeout": "set GRACEFUL_TIMEOUT",
    "keepalive_timeout": "set KEEP_ALIVE",
    "handle_signals": "gunicorn handles signals",
    "print": "the stack prints its own start line",
    "loop": "each worker runs its own loop",
    "handler_cancellation": "aiohttp's gunicorn worker does not offer it",
}

_HERE = os.path.dirname(os.path.abspath(__file__))
_IMPORTLIB = os.path.abspath(importlib.__file__ or "")
Factory = Callable[[], Awaitable[Any]]
Target = Union[web.Application, Factory]


class LoadError(Exception):
    """The app could not be loaded. `line` says where and why in one line; `cause` is the app's
    own exception when there is a traceback worth showing, else None. `stage` is what failed:
    "load" (import, variable, factory) or "start" (on_startup, cleanup_ctx)."""

    def __init__(self, line: str, cause: Optional[BaseException] = None, stage: str = "load") -> None:
        super().__init__(line)
        self.line = line
        self.cause = cause
        self.stage = stage

    @property
    def reason(self) -> str:
        """The stack's last line, without its prefix."""
        return f"the app failed to {self.stage}: {self.line}"


@dataclass(frozen=True)
class Loaded:
    target: Target  # what aiohttp's worker serves: an Application, or an async function to await
    note: str = ""  # for a run_app script: the line that says so


class _RunAppCalled(BaseException):
    # BaseException: an app's `except Exception:` around run_app must not swallow it
    def __init__(self, app: Any, kwargs: Dict[str, Any], module: Optional[ModuleType], where: str) -> None:
        super().__init__("web.run_app() called while the stack loads the app")
        self.app, self.kwargs, self.module, self.where = app, kwargs, module, where


def load(spec_text: str) -> Loaded:
    """Import the module of APP_MODULE and return what to serve; raises LoadError."""
    try:
        spec = appspec.parse(spec_text)
    except ValueError as exc:
        raise LoadError(f"APP_MODULE={spec_text!r}: expected {exc}") from None
    try:
        with _run_app_caught():
            module = importlib.import_module(spec.module)
    except _RunAppCalled as called:
        return _from_run_app(called)
    except Exception as exc:  # noqa: BLE001 - whatever the app raised while importing is the user's to see
        raise LoadError(summary(exc), exc) from None
    where = relative(getattr(module, "__file__", None) or spec.module)
    if not hasattr(module, spec.name):
        raise LoadError(f"{where}: module {spec.module} has no variable {spec.name!r}{_candidates(module)}")
    return Loaded(resolve(getattr(module, spec.name), spec, where))


def resolve(obj: Any, spec: appspec.AppSpec, where: str) -> Target:
    """What aiohttp's worker can serve, from the object APP_MODULE names."""
    shown = f"{spec.module}:{spec.name}"
    if not spec.called:
        if isinstance(obj, web.Application):
            return obj
        if inspect.iscoroutinefunction(obj):
            return cast(Factory, obj)  # awaited by the worker, in its event loop
    if not callable(obj):
        raise LoadError(f"{where}: {shown} is {describe(obj)}; expected {ACCEPTED}")
    try:
        made = obj(*(spec.args or []), **spec.kwargs)
    except Exception as exc:  # noqa: BLE001 - the factory's own error, shown with its traceback
        raise LoadError(summary(exc, fallback=_defined_at(obj) or where), exc) from None
    if isinstance(made, web.Application):
        return made
    if inspect.isawaitable(made):
        return _awaiting(made)
    raise LoadError(f"{where}: {shown}() returned {describe(made)}; expected {ACCEPTED}")


def _awaiting(awaitable: Awaitable[Any]) -> Factory:
    async def factory() -> Any:
        return await awaitable

    factory.__wrapped__ = awaitable  # type: ignore[attr-defined] # where it was defined, for messages
    return factory


async def made_by(factory: Factory) -> Union[web.Application, web.AppRunner]:
    """Await an async factory (in the worker's loop): what it returns, or a LoadError."""
    where = _defined_at(factory) or "the app"
    try:
        made = await factory()
    except Exception as exc:  # noqa: BLE001 - the factory's own error, shown with its traceback
        raise LoadError(summary(exc, fallback=where), exc) from None
    if isinstance(made, (web.Application, web.AppRunner)):
        return made
    raise LoadError(f"{where}: the async factory returned {describe(made)}; expected {ACCEPTED}")


# --- web.run_app() while the module loads


@contextlib.contextmanager
def _run_app_caught() -> Iterator[None]:
    """Replace aiohttp's public `web.run_app` for the duration of the import.

    A module that does `from aiohttp.web import run_app` during the import gets the replacement and
    keeps it; called later (outside a load), the replacement hands over to aiohttp's own.
    """
    original = web.run_app
    active = [True]

    def run_app(app: Any, **kwargs: Any) -> None:
        if not active[0]:
            original(app, **kwargs)
            return
        caller = inspect.currentframe()
        caller = caller.f_back if caller is not None else None
        module, where = None, "the app"
        if caller is not None:
            module = sys.modules.get(str(caller.f_globals.get("__name__", "")))
            where = f"{relative(caller.f_code.co_filename)}:{caller.f_lineno}"
        del caller  # no reference cycle through the frame
        raise _RunAppCalled(app, kwargs, module, where)

    run_app.__doc__ = original.__doc__
    web.run_app = run_app
    try:
        yield
    finally:
        web.run_app = original
        active[0] = False


def _from_run_app(called: _RunAppCalled) -> Loaded:
    if called.kwargs.get("ssl_context") is not None:
        raise LoadError(
            f"{called.where}: web.run_app(ssl_context=...) is refused: TLS belongs to nginx or the load balancer "
            "in front of it; drop ssl_context and serve HTTPS there"
        )
    _keep_imported(called.module)
    app = called.app
    if isinstance(app, web.Application):
        target: Target = app
    elif inspect.iscoroutinefunction(app):
        target = app
    elif inspect.isawaitable(app):
        target = _awaiting(app)
    else:
        raise LoadError(f"{called.where}: web.run_app() was given {describe(app)}; expected {ACCEPTED}")
    return Loaded(target, run_app_note(called.where, called.kwargs))


def run_app_note(where: str, kwargs: Dict[str, Any]) -> str:
    """The one line that says a run_app script is served by the stack, and what of its call is not used."""
    ignored: Dict[str, List[str]] = {}
    for name in kwargs:
        if name != "ssl_context":
            ignored.setdefault(RUN_APP_IGNORED.get(name, "not used by the stack"), []).append(name)
    said = "; ".join(f"{', '.join(names)} ({why})" for why, names in ignored.items())
    return (
        f"{where} calls web.run_app(): its app is served through nginx and gunicorn instead, and the module's "
        f"code after that call does not run" + (f"; ignored: {said}" if said else "")
    )


def _keep_imported(module: Optional[ModuleType]) -> None:
    """A module whose import stopped at run_app stays imported, as if it had finished: a later
    `import app` elsewhere must not run it (and run_app) again."""
    if module is None or not module.__name__:
        return
    name = module.__name__
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent and parent in sys.modules:
        setattr(sys.modules[parent], child, module)


# --- saying why, in one line


def relative(path: str) -> str:
    """A path as the user knows it: relative to the app directory (the working directory) when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith(os.pardir) else rel


def _ours(filename: str) -> bool:
    """The loader's frames and the import machinery's: not the app's."""
    path = os.path.abspath(filename)
    return filename.startswith("<frozen importlib") or os.path.dirname(path) == _HERE or path == _IMPORTLIB


def _in_app(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith(os.getcwd() + os.sep) and "site-packages" not in path and not _ours(filename)


def summary(exc: BaseException, fallback: str = "") -> str:
    """`file:line: Type: message` for the app's exception: the innermost frame in the app's own files."""
    message = " ".join(str(exc).split())
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{relative(exc.filename)}:{exc.lineno}" if exc.lineno else relative(exc.filename)
        message = " ".join(str(exc.msg).split())
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        mine = [f for f in frames if _in_app(f.filename)] or [f for f in frames if not _ours(f.filename)]
        where = f"{relative(mine[-1].filename)}:{mine[-1].lineno}" if mine else fallback
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return f"{where}: {text}" if where else text


def app_traceback(exc: BaseException) -> str:
    """The traceback of the app's exception without the loader's and importlib's frames."""
    shown = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    seen = set()
    current: Optional[traceback.TracebackException] = shown
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.stack = traceback.StackSummary.from_list([f for f in current.stack if not _ours(f.filename)])
        current = current.__cause__ or current.__context__
    return "".join(shown.format())


def describe(obj: Any) -> str:
    if obj is None:
        return "None"
    if isinstance(obj, web.AppRunner):
        return "a web.AppRunner (return it from an async function instead)"
    if inspect.isclass(obj):
        return f"the class {obj.__name__}"
    if inspect.iscoroutine(obj):
        return "a coroutine"
    return f"a {type(obj).__module__}.{type(obj).__qualname__}" if type(obj).__module__ != "builtins" else f"a {type(obj).__name__}"


def _defined_at(obj: Any) -> str:
    obj = getattr(obj, "__wrapped__", obj)
    code = getattr(obj, "__code__", None) or getattr(obj, "cr_code", None)
    return f"{relative(code.co_filename)}:{code.co_firstlineno}" if code is not None else ""


def _candidates(module: ModuleType) -> str:
    found = [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (isinstance(value, web.Application) or (inspect.isfunction(value) and value.__module__ == module.__name__))
    ]
    return f" (it has: {', '.join(found[:8])}; set VARIABLE_NAME or APP_MODULE)" if found else ""

