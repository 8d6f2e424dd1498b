#!/usr/bin/env bash
# Build local stand-ins for the official python:X.Y-slim-<suite> images from a
# Debian mirror alone (no container registry). Usage: scripts/local-base.sh X.Y [X.Y ...]
# Env: DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR, LOCAL_BASE_CACHE; see docs/offline-build.md.
set -eu
exec python3 "$(dirname "$0")/local_base.py" "$@"
