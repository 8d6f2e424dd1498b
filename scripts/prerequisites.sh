#!/bin/sh
# The system packages host mode and the tests need (nginx, Docker, wrk, chromium, ...), installed with apt-get
# as root; the same step CI (.ci/run) runs. What is missing, without installing: aiohttp-nginx doctor.
# Uses the system's python3 and the standard library only: run it before the virtual environment exists.
set -eu
cd "$(dirname "$0")/.."
exec python3 -m aiohttp_nginx_base.doctor --install "$@"
