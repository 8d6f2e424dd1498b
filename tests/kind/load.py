"""Load for the kind job, run inside the cluster: GETs to a URL, each on a new connection (so kube-proxy picks a
pod for each), from CONNECTIONS clients, until /tmp/stop exists or LIMIT seconds passed. Prints one JSON line of
figures; exits 1 when any request failed. Standalone: only the standard library and aiohttp (both in the image)."""

import asyncio
import json
import os
import sys
import time

import aiohttp

CONNECTIONS = 16
STOP_FILE = "/tmp/stop"


async def main(url: str, limit: float) -> int:
    results = []  # (seconds, status or 0, error)
    deadline = time.monotonic() + limit
    connector = aiohttp.TCPConnector(limit=CONNECTIONS, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def client() -> None:
            while time.monotonic() < deadline and not os.path.exists(STOP_FILE) and len(results) < 1_000_000:
                started = time.monotonic()
                try:
                    async with session.get(url) as response:
                        await response.read()
                        results.append((time.monotonic() - started, response.status, ""))
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    results.append((time.monotonic() - started, 0, type(exc).__name__))

        print("load: started", flush=True)
        await asyncio.gather(*(client() for _ in range(CONNECTIONS)))
    failed = [r for r in results if r[1] != 200]
    latencies = sorted(r[0] for r in results)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else 0.0
    kinds = sorted({r[2] or str(r[1]) for r in failed})
    print(json.dumps({"requests": len(results), "failed": len(failed), "kinds": kinds, "p99_ms": round(p99 * 1000)}), flush=True)
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], float(sys.argv[2]))))
