"""Host mode on the app corpus: each app written the way people write them is served unchanged by
`aiohttp-nginx run`; each failing one stops the stack within seconds with its reason as the last line."""

from __future__ import annotations

import time

import pytest

from tests.corpus import FAILING, RUN_APP_NOTE, SERVED, Failing, Served, check_failure
from tests.support import get_text, wait_until


@pytest.mark.parametrize("case", SERVED, ids=[c.id for c in SERVED])
def test_the_corpus_app_is_served_unchanged(host_stack, case: Served) -> None:
    stack = host_stack(f"corpus/{case.directory}", env={"WEB_CONCURRENCY": "2", **case.env})
    for path, expected in case.answers:
        status, body = wait_until(lambda p=path: get_text(stack.port, p), 10, f"{path} to answer")  # type: ignore[misc]
        assert status == 200 and body.startswith(expected), (path, status, body, stack.output)
    # the client address the app sees is the connection's, through nginx
    assert get_text(stack.port, "/client", source="127.0.0.2") == (200, "127.0.0.2")
    if case.runs_run_app:
        # the worker that says it may not be the one that answered: it can still be on its way out
        wait_until(lambda: RUN_APP_NOTE in stack.output, 10, "the run_app note")
    notes = [line for line in stack.output.splitlines() if RUN_APP_NOTE in line]
    if case.runs_run_app:
        # once for the stack, not once per worker
        assert len(notes) == 1, stack.output
        assert notes[0].endswith(f"code after that call does not run{case.run_app_ignored}"), notes[0]
        assert "code after web.run_app() ran" not in stack.output
    else:
        assert notes == [], stack.output


@pytest.mark.parametrize("case", FAILING, ids=[c.id for c in FAILING])
def test_a_corpus_app_that_fails_to_load_says_why_in_its_last_line(host_stack, case: Failing) -> None:
    stack = host_stack(f"corpus/{case.directory}", env={"WEB_CONCURRENCY": "3", **case.env}, ready=False)
    started = time.monotonic()
    code = stack.proc.wait(60)  # a crash loop would never end
    elapsed = time.monotonic() - started
    stack._reader.join(5)
    assert code == 1, stack.output
    # "within seconds": about 2 s on an idle machine; the bound leaves room for a loaded one
    assert elapsed < 30, f"took {elapsed:.1f} s"
    check_failure(case, stack.output)
