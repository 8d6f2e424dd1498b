"""`docker stop`'s signal, and Ctrl-C, on a busy host-mode stack: nothing accepted is lost."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import List

import pytest

from tests.support import Outcome, load, lost_requests, wait_until

GRACEFUL = 5


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_under_load_loses_no_accepted_request(host_stack, tmp_path: Path, sig: int) -> None:
    stack = host_stack(env={"GRACEFUL_TIMEOUT": str(GRACEFUL)})
    mark = tmp_path / "busy"
    outcomes: List[Outcome] = []
    client = threading.Thread(target=lambda: outcomes.extend(load(stack.port, f"/slow?s=0.3&mark={mark}", connections=64, seconds=6)))
    client.start()
    wait_until(mark.exists, 10, "the load to reach the app")
    signalled = time.monotonic()
    code = stack.stop(sig, timeout=GRACEFUL + 2 + 5)
    stopped = time.monotonic()
    client.join(30)
    assert code == 0, stack.output[-2000:]
    assert stopped - signalled < GRACEFUL + 2
    in_flight = [o for o in outcomes if o.started < signalled < o.ended and o.status == 200]
    assert in_flight, "some requests must have been in flight at the signal"
    assert lost_requests(outcomes) == [], stack.output[-3000:]
