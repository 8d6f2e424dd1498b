"""The kind job's rolling update: load through the Service from inside the cluster while the Deployment rolls.

Run with kubectl pointed at a cluster where examples/kubernetes is deployed (see .github/workflows/kind.yml):
    python3 tests/kind/rolling_update.py IMAGE
Exits non-zero when any request failed (or the rollout did not finish), printing the load's figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, List

LOAD = Path(__file__).with_name("load.py")
POD = "rolling-update-load"
LIMIT = 600  # seconds: the load's own bound, whatever happens here


def kubectl(*args: str, timeout: float = 300, check: bool = True) -> str:
    result = subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(1)  # polling a cluster's state: kubectl itself takes longer than this


def main(argv: List[str]) -> int:
    image = argv[1]
    kubectl(
        "run",
        POD,
        f"--image={image}",
        "--restart=Never",
        "--image-pull-policy=IfNotPresent",
        "--command",
        "--",
        "python",
        "-c",
        LOAD.read_text(),
        "http://myapp/",
        str(LIMIT),
    )
    wait_for("the load to start", lambda: "load: started" in kubectl("logs", POD, check=False), 180)
    kubectl("rollout", "restart", "deployment/myapp")
    print(kubectl("rollout", "status", "deployment/myapp", "--timeout=300s", timeout=330), flush=True)
    # rollout status returns once the old pods are gone: every request of the swap has been made
    kubectl("exec", POD, "--", "touch", "/tmp/stop")
    wait_for("the load to finish", lambda: kubectl("get", "pod", POD, "-o", "jsonpath={.status.phase}") in ("Succeeded", "Failed"), 120)
    output = kubectl("logs", POD)
    print(output, flush=True)
    figures = json.loads(output.strip().splitlines()[-1])
    phase = kubectl("get", "pod", POD, "-o", "jsonpath={.status.phase}")
    print(
        f"rolling update in kind: {figures['requests']} requests, {figures['failed']} failed {figures['kinds']}, p99 {figures['p99_ms']} ms"
    )
    return 0 if phase == "Succeeded" and figures["failed"] == 0 and figures["requests"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
