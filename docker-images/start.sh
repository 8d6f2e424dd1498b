#!/bin/sh
# Source the prestart hook (so its exports reach the app), then run the stack.
set -e

prestart="${PRE_START_PATH:-${APP_DIR:-/app}/prestart.sh}"
if [ -f "$prestart" ]; then
    echo "aiohttp-nginx: sourcing $prestart" >&2
    # shellcheck disable=SC1090
    . "$prestart"
fi

exec aiohttp-nginx start "$@"
