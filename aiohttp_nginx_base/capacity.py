"""How many connections the stack can hold, derived from what the container really has.

Pure: the host facts (open-file limit, CPUs, memory limit, somaxconn) come in as
arguments (host.py reads them), the numbers nginx and gunicorn are given come out.

- nginx counts every connection it holds, and a proxied request or websocket holds
  two (the client's and gunicorn's): its `worker_connections` comes from the
  open-file limit, less a reserve for its listeners, logs, temp files and epoll.
- nginx allocates a slot for each of `worker_connections` at start (measured: about
  424 bytes each, 11 MiB per worker at 18,750, 436 MiB per worker at 1,048,576, the
  limit some container runtimes hand out). So all workers together get at most
  TOTAL_CONNECTIONS, and with a memory limit at most what MEMORY_SHARE of it holds
  at NGINX_BYTES_PER_CONNECTION (a held connection's buffers included).
- gunicorn's unix socket and nginx's port listen with the deepest backlog the
  network namespace allows (net.core.somaxconn): when hundreds of requests arrive
  together, a short unix-socket backlog makes nginx's connect() fail with EAGAIN.
- gunicorn's worker count is bounded by memory too: each worker needs about
  WORKER_BYTES beyond the stack's base.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

MIB = 1024 * 1024
# descriptors an nginx worker keeps for other things than connections: listeners, logs, epoll,
# eventfd, a temp file per buffered request body
NGINX_RESERVED_FILES = 64
# connection slots of an nginx worker that are not clients': its listeners and up to 64 idle upstream
# keep-alive connections (the `keepalive 64` of the upstream block)
NGINX_RESERVED_SLOTS = 72
# all nginx workers together: about 27 MiB of connection slots
TOTAL_CONNECTIONS = 65536
# connections never go below this, whatever the limits say (nginx's own default is 512)
MIN_CONNECTIONS = 512
# an idle proxied websocket costs nginx about this much per connection it holds (two per websocket):
# slot, request pool and the two proxy buffers. Measured: nginx workers' RSS grew 110 MiB holding 5,000
# (benchmarks/tuning.md, "Memory per connection"), 11 KiB a connection; rounded up
NGINX_BYTES_PER_CONNECTION = 12 * 1024
# nginx may take at most this part of a memory limit; the app gets the rest
MEMORY_SHARE = 0.25
# a gunicorn worker: measured 35 MiB RSS idle for the test app (benchmarks/tuning.md), plus room for the
# app's own data and connections (16 KiB per idle websocket)
WORKER_BYTES = 64 * MIB
# PID 1 (supervisord's loop), gunicorn's master and nginx before any connection
BASE_BYTES = 96 * MIB
# the kernel caps a listen backlog at somaxconn; gunicorn's default backlog is 2048
DEFAULT_BACKLOG = 2048
MAX_BACKLOG = 65535
# nginx's limit_conn takes at most this
MAX_IN_FLIGHT = 65535


@dataclass(frozen=True)
class Capacity:
    nginx_worker_connections: int
    nginx_worker_open_files: int
    backlog: int  # gunicorn's unix socket and nginx's listening port


def connection_target(memory_limit: Optional[int]) -> int:
    """The connections all nginx workers together are sized for: TOTAL_CONNECTIONS, or what a memory limit holds."""
    if memory_limit is None:
        return TOTAL_CONNECTIONS
    return max(MIN_CONNECTIONS, min(TOTAL_CONNECTIONS, int(memory_limit * MEMORY_SHARE) // NGINX_BYTES_PER_CONNECTION))


def nginx_workers(open_files: int, usable_cpus: int, memory_limit: Optional[int]) -> int:
    """NGINX_WORKER_PROCESSES=auto: the fewest workers that hold the connection target under the open-file limit
    (each worker has its own), at most one per usable CPU. A second worker costs every request (measured ~17 us and
    most of the p99 on two CPUs, benchmarks/tuning.md): with Docker's usual limit of 1,048,576 files one worker holds
    the whole target; at 20,000 files it takes four, so two CPUs keep two."""
    per_worker = max(MIN_CONNECTIONS, min(open_files - NGINX_RESERVED_FILES, TOTAL_CONNECTIONS))
    needed = -(-connection_target(memory_limit) // per_worker)  # ceiling division
    return max(1, min(usable_cpus, needed))


def nginx_connections(open_files: int, nginx_workers: int, memory_limit: Optional[int]) -> int:
    """`worker_connections` for each of `nginx_workers`."""
    workers = max(1, nginx_workers)
    by_files = open_files - NGINX_RESERVED_FILES
    by_total = TOTAL_CONNECTIONS // workers
    connections = min(by_files, by_total)
    if memory_limit is not None:
        connections = min(connections, int(memory_limit * MEMORY_SHARE) // NGINX_BYTES_PER_CONNECTION // workers)
    return max(MIN_CONNECTIONS, connections)


def backlog(somaxconn: int) -> int:
    """The deepest listen backlog the kernel grants; gunicorn's default when somaxconn is unknown (0)."""
    if somaxconn <= 0:
        return DEFAULT_BACKLOG
    return min(somaxconn, MAX_BACKLOG)


def derive(open_files: int, nginx_workers: int, memory_limit: Optional[int], somaxconn: int) -> Capacity:
    connections = nginx_connections(open_files, nginx_workers, memory_limit)
    return Capacity(
        nginx_worker_connections=connections,
        # never above the hard limit: raising it needs CAP_SYS_RESOURCE, and nginx would log an alert
        nginx_worker_open_files=max(1, min(open_files, connections + NGINX_RESERVED_FILES)),
        backlog=backlog(somaxconn),
    )


def in_flight_limit(nginx_workers: int, worker_connections: int) -> int:
    """Requests and websockets nginx passes to the app at once. Each holds two connections. Left free: the
    slots of the listeners and of the idle upstream keep-alive pool, and an eighth of the rest to accept the
    overflow and answer it 503 at once - nginx accepts a connection it has no slot for only to drop it with an
    alert ("worker_connections are not enough")."""
    usable = max(2, worker_connections - NGINX_RESERVED_SLOTS)
    return max(1, min(MAX_IN_FLIGHT, max(1, nginx_workers) * usable * 7 // 16))


def workers_by_memory(memory_limit: Optional[int]) -> Optional[int]:
    """How many gunicorn workers fit in the memory limit (at least 1); None when there is no limit."""
    if memory_limit is None:
        return None
    return max(1, (memory_limit - BASE_BYTES) // WORKER_BYTES)
