#!/bin/sh
# ENTRYPOINT of the aiohttp-nginx images: set up the environment, then run the command (default /start.sh).
set -e

# Alpine images: let the app import packages installed with apk (py3-*) next to pip's.
if [ -n "${ALPINEPYTHON:-}" ]; then
    export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}/usr/local/lib/$ALPINEPYTHON/site-packages:/usr/lib/$ALPINEPYTHON/site-packages"
fi

exec "$@"
