"""The app corpus (tests/apps/corpus): what each app must answer, and how each failing one must stop.

Shared by the image tests (one image holding the corpus, APP_DIR=/app/<dir> per container) and the
host-mode tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from tests.support import APPS

CORPUS = APPS / "corpus"
LOAD_FAILED = "aiohttp-nginx: the app failed to load: "
START_FAILED = "aiohttp-nginx: the app failed to start: "
TRACEBACK = "Traceback (most recent call last):"
RUN_APP_NOTE = "calls web.run_app(): its app is served through nginx and gunicorn instead"


@dataclass(frozen=True)
class Served:
    id: str
    directory: str
    env: Dict[str, str]
    # (path, expected body) pairs; the first is polled until the stack answers
    answers: List[Tuple[str, str]]
    # for run_app scripts: what the one line about it says it ignored ("" when nothing)
    run_app_ignored: Optional[str] = None

    @property
    def runs_run_app(self) -> bool:
        return self.run_app_ignored is not None


@dataclass(frozen=True)
class Failing:
    id: str
    directory: str
    env: Dict[str, str]
    last_line: str  # a regular expression, matched in full
    tracebacks: int  # how many times "Traceback (most recent call last):" is printed
    shown: List[str] = field(default_factory=list)  # lines printed once, above the last


SERVED = [
    Served("runapp_plain", "runapp_plain", {}, [("/", "runapp_plain: pid ")], run_app_ignored=""),
    Served(
        "runapp_hostport", "runapp_hostport", {}, [("/", "runapp_hostport: ok")],
        run_app_ignored="; ignored: host, port (nginx listens on LISTEN_PORT); access_log (nginx writes the access log: "
        "set ACCESS_LOG); shutdown_timeout (set GRACEFUL_TIMEOUT)",
    ),
    Served(
        "runapp_coroutine", "runapp_coroutine", {}, [("/", "runapp_coroutine: built in the loop: True")],
        run_app_ignored="; ignored: port (nginx listens on LISTEN_PORT)",
    ),
    Served("route_table", "route_table", {}, [("/", "route_table: ok")]),
    Served("class_views", "class_views", {}, [("/", "class_views: ok")]),
    Served("plain_factory", "plain_factory", {"VARIABLE_NAME": "create_app"}, [("/", "plain_factory: default")]),
    Served("plain_factory_args", "plain_factory", {"APP_MODULE": "app:create_app('corpus')"}, [("/", "plain_factory: corpus")]),
    Served("async_factory", "async_factory", {"VARIABLE_NAME": "create_app"}, [("/", "async_factory: ok")]),
    Served("background", "background", {}, [("/", "background: ticking=True")]),
    Served("subapps", "subapps", {}, [("/", "subapps: ok"), ("/admin/", "subapps: admin at /admin/")]),
    Served("app_main", "app_main", {}, [("/", "app_main: ok")]),
    Served("package", "package", {"APP_MODULE": "shop.web:app"}, [("/", "package: 2 prices")]),
]

ACCEPTED = re.escape(
    "expected a web.Application, a function returning one, or an async function returning a web.Application or web.AppRunner"
)
FAILING = [
    Failing(
        "import", "fail_import", {},
        re.escape(LOAD_FAILED + "app.py:3: ModuleNotFoundError: No module named 'this_module_does_not_exist'"), 1,
    ),
    # the line and message of an unclosed bracket differ between Python versions
    Failing("syntax", "fail_syntax", {}, re.escape(LOAD_FAILED) + r"app\.py:\d: SyntaxError: .+", 0, ["SyntaxError: "]),
    Failing(
        "variable", "fail_variable", {},
        re.escape(LOAD_FAILED + "app.py: module app has no variable 'app' (it has: application; set VARIABLE_NAME or APP_MODULE)"), 0,
    ),
    Failing(
        "factory", "fail_factory", {"VARIABLE_NAME": "create_app"},
        re.escape(LOAD_FAILED + "app.py:6: RuntimeError: DATABASE_URL is not set"), 1,
    ),
    Failing(
        "async_factory", "fail_async_factory", {"VARIABLE_NAME": "create_app"},
        re.escape(LOAD_FAILED + "app.py:6: RuntimeError: DATABASE_URL is not set"), 1,
    ),
    Failing(
        "ssl_context", "fail_ssl", {},
        re.escape(LOAD_FAILED + "app.py:7: web.run_app(ssl_context=...) is refused: TLS belongs to nginx or the load balancer in front "
                  "of it; drop ssl_context and serve HTTPS there"), 0,
    ),
    Failing("not_an_app", "fail_not_an_app", {}, re.escape(LOAD_FAILED + "app.py: app:app is a dict; ") + ACCEPTED, 0),
    # loaded, but its startup raises before the worker serves
    Failing(
        "on_startup", "fail_startup", {},
        re.escape(START_FAILED + "app.py:6: ConnectionRefusedError: database:5432 refused the connection"), 1,
    ),
    Failing("cleanup_ctx", "fail_cleanup_ctx", {}, re.escape(START_FAILED + "app.py:8: KeyError: 'DATABASE_URL'"), 1),
]


def check_failure(case: Failing, output: str) -> None:
    """The stack's output for a failing app: its reason last, its traceback once, no gunicorn chains."""
    lines = output.strip().splitlines()
    assert lines, "no output"
    assert re.fullmatch(case.last_line, lines[-1]), f"last line {lines[-1]!r}\n" + "\n".join(lines[-40:])
    assert output.count(TRACEBACK) == case.tracebacks, output
    assert "HaltServer" not in output and "Exception in worker process" not in output, output
    assert sum(1 for line in lines if line.startswith((LOAD_FAILED, START_FAILED))) == 1, output
    for start in case.shown:
        assert sum(1 for line in lines if line.startswith(start)) == 1, output
