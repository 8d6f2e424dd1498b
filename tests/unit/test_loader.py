"""loader.py: what APP_MODULE may name, run_app scripts, and the one line a failed load is reported with."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from aiohttp import web

from aiohttp_nginx_base import appspec, loader

pytestmark = pytest.mark.filterwarnings("ignore:It is recommended to use web.AppKey")


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory the loader imports from, as gunicorn's worker does: the working directory, first on sys.path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def module(app_dir: Path, source: str, name: str = "") -> str:
    """Write a module with a fresh name (imports are cached per name) and return that name."""
    name = name or f"app_{uuid.uuid4().hex[:8]}"
    (app_dir / f"{name}.py").write_text(textwrap.dedent(source).lstrip())
    return name


def served(loaded: loader.Loaded) -> web.Application:
    """The Application a worker would serve."""
    target = loaded.target
    if isinstance(target, web.Application):
        return target
    made = asyncio.run(loader.made_by(target))
    return made if isinstance(made, web.Application) else made.app


def failure(spec: str) -> str:
    with pytest.raises(loader.LoadError) as caught:
        loaded = loader.load(spec)
        if not isinstance(loaded.target, web.Application):
            asyncio.run(loader.made_by(loaded.target))
    assert "\n" not in caught.value.line
    return caught.value.line


APP = """
from aiohttp import web
app = web.Application()
app["name"] = "plain"
"""


# --- APP_MODULE's syntax


@pytest.mark.parametrize(
    "text, expected",
    [
        ("app:app", appspec.AppSpec("app", "app")),
        (" pkg.web:create_app ", appspec.AppSpec("pkg.web", "create_app")),
        ("app:create_app()", appspec.AppSpec("app", "create_app", [], {})),
        (
            "app:create_app('prod', workers=2, flags=[1, None])",
            appspec.AppSpec("app", "create_app", ["prod"], {"workers": 2, "flags": [1, None]}),
        ),
    ],
)
def test_app_spec_accepts_variables_and_factory_calls_with_literal_arguments(text: str, expected: appspec.AppSpec) -> None:
    assert appspec.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "app", "app:", ":app", "app:app.attr", "app:a.b()", "app:f(os.environ)", "app:f(*args)", "app:f(**kw)",
        "app:f(__import__('os'))", "app:f(1 + 1)", "a-b:app", "app:app; import os", "app:f('\n')", "app:f(" + "1," * 300 + ")",
    ],
)
def test_app_spec_refuses_anything_but_a_name_or_a_literal_call(text: str) -> None:
    with pytest.raises(ValueError):
        appspec.parse(text)


# --- what the variable may be


def test_an_application(app_dir: Path) -> None:
    name = module(app_dir, APP)
    loaded = loader.load(f"{name}:app")
    assert served(loaded)["name"] == "plain"
    assert loaded.note == ""


def test_a_plain_factory_is_called(app_dir: Path) -> None:
    name = module(app_dir, APP + "calls = []\ndef create_app():\n    calls.append(1)\n    return app\n")
    assert served(loader.load(f"{name}:create_app"))["name"] == "plain"
    assert sys.modules[name].calls == [1]  # type: ignore[attr-defined]


def test_a_plain_factory_with_literal_arguments(app_dir: Path) -> None:
    name = module(app_dir, APP + "def create_app(env, debug=False):\n    app['env'] = (env, debug)\n    return app\n")
    assert served(loader.load(f"{name}:create_app('prod', debug=True)"))["env"] == ("prod", True)


@pytest.mark.parametrize("returns", ["web.Application()", "web.AppRunner(web.Application())"])
def test_an_async_factory_is_left_for_the_worker_to_await(app_dir: Path, returns: str) -> None:
    name = module(app_dir, f"from aiohttp import web\nasync def create_app():\n    return {returns}\n")
    loaded = loader.load(f"{name}:create_app")
    assert loaded.target is sys.modules[name].create_app  # type: ignore[attr-defined]
    assert isinstance(served(loaded), web.Application)


def test_an_async_factory_with_arguments(app_dir: Path) -> None:
    source = "from aiohttp import web\nasync def create_app(tag):\n    app = web.Application()\n    app['tag'] = tag\n    return app\n"
    name = module(app_dir, source)
    assert served(loader.load(f"{name}:create_app('x')"))["tag"] == "x"


# --- web.run_app() at import time


@pytest.mark.parametrize(
    "call, expected_ignored",
    [
        ("web.run_app(app)", ""),
        ("web.run_app(app, host='0.0.0.0', port=8080)", "; ignored: host, port (nginx listens on LISTEN_PORT)"),
        (
            "web.run_app(app, access_log=None, shutdown_timeout=3)",
            "; ignored: access_log (nginx writes the access log: set ACCESS_LOG); shutdown_timeout (set GRACEFUL_TIMEOUT)",
        ),
    ],
)
def test_run_app_at_import_is_served_and_the_rest_of_the_module_does_not_run(app_dir: Path, call: str, expected_ignored: str) -> None:
    name = module(app_dir, APP + f"{call}\nraise SystemExit('code after run_app ran')\n")
    loaded = loader.load(f"{name}:app")
    assert served(loaded)["name"] == "plain"
    assert loaded.note == (
        f"{name}.py:4 calls web.run_app(): its app is served through nginx and gunicorn instead, "
        f"and the module's code after that call does not run{expected_ignored}"
    )


def test_run_app_with_a_coroutine_or_an_async_factory(app_dir: Path) -> None:
    source = "from aiohttp import web\nasync def make():\n    a = web.Application()\n    a['made'] = True\n    return a\n"
    for argument in ("make()", "make"):
        name = module(app_dir, source + f"web.run_app({argument}, port=9999)\n")
        assert served(loader.load(f"{name}:app"))["made"] is True


def test_run_app_imported_by_name_is_caught_too(app_dir: Path) -> None:
    name = module(app_dir, "from aiohttp.web import Application, run_app\napp = Application()\nrun_app(app)\n")
    assert isinstance(served(loader.load(f"{name}:app")), web.Application)


def test_a_module_stopped_at_run_app_stays_imported(app_dir: Path) -> None:
    name = module(app_dir, APP + "web.run_app(app)\n")
    loaded = loader.load(f"{name}:app")
    assert sys.modules[name].app is served(loaded)  # type: ignore[attr-defined] # `import app` elsewhere: no second run


def test_run_app_under_the_main_guard_is_not_called(app_dir: Path) -> None:
    name = module(app_dir, APP + "if __name__ == '__main__':\n    web.run_app(app)\n")
    loaded = loader.load(f"{name}:app")
    assert loaded.note == ""
    assert served(loaded)["name"] == "plain"


def test_run_app_after_loading_is_aiohttps_own(app_dir: Path) -> None:
    original = web.run_app
    module(app_dir, APP + "web.run_app(app)\n")
    assert web.run_app is original


def test_run_app_with_ssl_context_is_refused_in_one_line(app_dir: Path) -> None:
    name = module(app_dir, APP + "import ssl\nweb.run_app(app, ssl_context=ssl.create_default_context())\n")
    line = failure(f"{name}:app")
    assert line.startswith(f"{name}.py:5: web.run_app(ssl_context=...) is refused: TLS belongs to nginx or the load balancer")


def test_run_app_with_something_else(app_dir: Path) -> None:
    name = module(app_dir, "from aiohttp import web\nweb.run_app(42)\n")
    assert failure(f"{name}:app") == f"{name}.py:2: web.run_app() was given a int; expected {loader.ACCEPTED}"


# --- failures: one line, file:line: what


def test_a_missing_module_names_the_line_that_imports_it(app_dir: Path) -> None:
    name = module(app_dir, '"""doc"""\n\nimport this_module_does_not_exist\n')
    assert failure(f"{name}:app") == f"{name}.py:3: ModuleNotFoundError: No module named 'this_module_does_not_exist'"


def test_a_syntax_error(app_dir: Path) -> None:
    name = module(app_dir, "from aiohttp import web\napp = web.Application(\n")
    assert failure(f"{name}:app").startswith(f"{name}.py:2: SyntaxError: ")


def test_an_error_inside_a_library_names_the_apps_line(app_dir: Path) -> None:
    name = module(app_dir, "import json\n\nCONFIG = json.loads('{')\n")
    assert failure(f"{name}:app").startswith(f"{name}.py:3: JSONDecodeError: Expecting property name")


def test_a_missing_variable_lists_what_the_module_has(app_dir: Path) -> None:
    name = module(app_dir, APP + "def create_app():\n    return app\n")
    assert failure(f"{name}:application") == (
        f"{name}.py: module {name} has no variable 'application' (it has: app, create_app; set VARIABLE_NAME or APP_MODULE)"
    )


def test_a_plain_factory_that_raises(app_dir: Path) -> None:
    name = module(app_dir, "def create_app():\n    raise RuntimeError('no database')\n")
    assert failure(f"{name}:create_app") == f"{name}.py:2: RuntimeError: no database"


def test_an_async_factory_that_raises(app_dir: Path) -> None:
    name = module(app_dir, "async def create_app():\n    x = 1\n    raise KeyError('DATABASE_URL')\n")
    assert failure(f"{name}:create_app") == f"{name}.py:3: KeyError: 'DATABASE_URL'"


def test_a_factory_called_without_its_arguments(app_dir: Path) -> None:
    name = module(app_dir, "import os\ndef create_app(config):\n    pass\n")
    assert failure(f"{name}:create_app") == f"{name}.py:2: TypeError: create_app() missing 1 required positional argument: 'config'"


@pytest.mark.parametrize(
    "source, what",
    [
        ("app = None", "app is None"),
        ("app = {'routes': []}", "app is a dict"),
        (
            "from aiohttp import web\napp = web.AppRunner(web.Application())",
            "app is a web.AppRunner (return it from an async function instead)",
        ),
        ("def app():\n    return 'hello'", "app() returned a str"),
        ("async def app():\n    return None", "the async factory returned None"),
    ],
)
def test_anything_else_gets_one_line_saying_what_was_found_and_what_is_accepted(app_dir: Path, source: str, what: str) -> None:
    name = module(app_dir, source + "\n")
    line = failure(f"{name}:app")
    assert what in line, line
    assert line.endswith(f"expected {loader.ACCEPTED}")


def test_the_traceback_shown_is_the_apps_own(app_dir: Path) -> None:
    name = module(app_dir, "import this_module_does_not_exist\n")
    with pytest.raises(loader.LoadError) as caught:
        loader.load(f"{name}:app")
    assert caught.value.cause is not None
    shown = loader.app_traceback(caught.value.cause)
    assert shown.count("Traceback (most recent call last):") == 1
    assert f'{name}.py", line 1, in <module>' in shown
    assert "importlib" not in shown and "loader.py" not in shown
    assert shown.rstrip().endswith("ModuleNotFoundError: No module named 'this_module_does_not_exist'")


def test_a_bad_spec_is_one_line(app_dir: Path) -> None:
    assert failure("app:f(os)").startswith("APP_MODULE='app:f(os)': expected literal arguments")


def test_describe_says_what_was_found() -> None:
    class Thing:
        pass

    assert loader.describe(Thing) == "the class Thing"
    assert loader.describe(Thing()).endswith("Thing")
    assert loader.describe(3) == "a int"
    assert loader.describe(None) == "None"


def test_made_by_accepts_what_aiohttps_worker_serves() -> None:
    async def runner() -> Any:
        return web.AppRunner(web.Application())

    assert isinstance(asyncio.run(loader.made_by(runner)), web.AppRunner)
