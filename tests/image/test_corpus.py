"""The app corpus in the image: apps written the ways people write them, served unchanged, and apps that fail
to load stopping the container with their reason as the last line.

One image holds the whole corpus (tests/apps/corpus COPY'd to /app); each container picks its app with
APP_DIR=/app/<dir>, so the corpus costs one small image layer per tag, not one image per app.
"""

from __future__ import annotations

from typing import Dict, Iterator

import pytest

from tests.corpus import FAILING, RUN_APP_NOTE, SERVED, Failing, Served, check_failure
from tests.image.conftest import build_app_image
from tests.image.helpers import (
    LABEL,
    SESSION,
    docker,
    exit_code,
    gunicorn_workers,
    inspect,
    listening_ports,
    logs,
    run_seconds,
    stop_with_a_request_in_flight,
    tail,
)
from tests.image.test_image import wait_exit
from tests.support import get_text, wait_until

pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]
WORKERS = 2


@pytest.fixture(scope="session")
def corpus_image(image: str, tag: str) -> str:
    return build_app_image(image, tag, "corpus")


def _run(image: str, name: str, directory: str, env: Dict[str, str], workers: int = WORKERS) -> str:
    settings = {"WEB_CONCURRENCY": str(workers), "APP_DIR": f"/app/{directory}", **env}
    options = [arg for key, value in settings.items() for arg in ("-e", f"{key}={value}")]
    docker("run", "-d", "--name", name, "--label", f"{LABEL}={SESSION}", "-p", "127.0.0.1::80", *options, image, timeout=60)
    return name


def published_port(container: str) -> int:
    return int(docker("port", container, "80/tcp").stdout.splitlines()[0].rsplit(":", 1)[1])


@pytest.fixture(scope="session")
def corpus(corpus_image: str, tag: str) -> Iterator[Dict[str, str]]:
    """Every served corpus app in its own container, all started at once; removed at the end."""
    names = {case.id: _run(corpus_image, f"ainbtest-{SESSION}-corpus-{tag}-{case.id}", case.directory, case.env) for case in SERVED}
    yield names
    docker("rm", "-f", "-v", *names.values(), timeout=120, check=False)


def ready(container: str, path: str, timeout: float = 60) -> int:
    port = published_port(container)

    def answered() -> bool:
        if exit_code(container) is not None:
            raise AssertionError(f"{container} exited instead of serving:\n{tail(logs(container))}")
        try:
            return get_text(port, path, timeout=2)[0] == 200
        except OSError:
            return False

    try:
        wait_until(answered, timeout, f"{container} to answer {path}", interval=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{tail(logs(container))}") from None
    return port


@pytest.mark.parametrize("case", SERVED, ids=[c.id for c in SERVED])
def test_the_corpus_app_is_served_unchanged(corpus: Dict[str, str], case: Served) -> None:
    container = corpus[case.id]
    port = ready(container, case.answers[0][0])
    for path, expected in case.answers:
        status, body = get_text(port, path)
        assert status == 200 and body.startswith(expected), (path, status, body)
    # the address the app sees is the connection's: published on 127.0.0.1, it comes from the network's gateway
    gateway = inspect(container, "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}")
    assert get_text(port, "/client") == (200, gateway)
    # every worker loaded the app, and only nginx listens (a run_app script's own host/port are not bound)
    assert len(gunicorn_workers(container)) == WORKERS
    assert listening_ports(container) == [80]
    if case.runs_run_app:
        # the worker that says it may not be the one that answered: it can still be on its way out
        wait_until(lambda: RUN_APP_NOTE in logs(container), 10, "the run_app note")
    output = logs(container)
    notes = [line for line in output.splitlines() if RUN_APP_NOTE in line]
    if case.runs_run_app:
        assert len(notes) == 1, output  # once for the container, not once per worker
        assert notes[0].endswith(f"code after that call does not run{case.run_app_ignored}"), notes[0]
        assert "code after web.run_app() ran" not in output
    else:
        assert notes == [], output
    assert "Traceback" not in output, output


def test_a_run_app_script_stops_gracefully(corpus_image: str, tag: str) -> None:
    container = _run(corpus_image, f"ainbtest-{SESSION}-corpus-{tag}-stop", "runapp_plain", {})
    try:
        port = ready(container, "/")
        results, stopped_in, output = stop_with_a_request_in_flight(container, port)
        assert results.get("slow") == (200, "slow done"), output
        assert inspect(container, "{{.State.ExitCode}}") == "0", output
        assert stopped_in < 10, f"docker stop took {stopped_in:.1f} s\n{output}"
    finally:
        docker("rm", "-f", "-v", container, timeout=60, check=False)


@pytest.mark.parametrize("case", FAILING, ids=[c.id for c in FAILING])
def test_a_corpus_app_that_fails_to_load_stops_the_container_with_its_reason_last(
    corpus_image: str, tag: str, case: Failing,
) -> None:
    container = _run(corpus_image, f"ainbtest-{SESSION}-corpus-{tag}-fail-{case.id}", case.directory, case.env, workers=3)
    try:
        code = wait_exit(container, 60)  # a crash loop would never exit
        output = logs(container)
        assert code == 1, output
        # "within seconds": about 5 s on an idle 2-core machine; the bound leaves room for a loaded one
        assert run_seconds(container) < 30, f"ran {run_seconds(container):.1f} s\n{tail(output)}"
        check_failure(case, output)
    finally:
        docker("rm", "-f", "-v", container, timeout=60, check=False)
