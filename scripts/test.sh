#!/bin/sh
# The test command: lint, unit, host-mode and image tests.
#   IMAGE_TAGS="python3.11 python3.13"  image tags to build and test (default: python3.13)
#   REQUIRE_DOCKER=1                     fail instead of skipping when no Docker engine answers
#   extra arguments go to pytest, e.g. scripts/test.sh -m 'not slow' tests/unit
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

"$PYTHON" scripts/lint.py
exec "$PYTHON" -m pytest "$@"
