#!/bin/sh
# Benchmark the aiohttp-nginx image like for like against gunicorn alone (access logs on
# and off), a bare nginx proxy and nginx alone; results in benchmarks/results/.
# Flags: benchmarks/run.sh --help
# Python: $PYTHON, else the repository's .venv, else python3 (matplotlib draws the chart;
# the test kit, pytest-aiohttp-nginx, runs the containers).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    [ -x "$here/../.venv/bin/python" ] && PYTHON="$here/../.venv/bin/python"
fi
# the package `benchmarks` is found from the repository's root, wherever this is run from
PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" -m benchmarks "$@"
