#!/bin/sh
# Run the stack: `aiohttp-nginx start` sources the prestart hook (so its exports reach the app), then starts.
exec aiohttp-nginx start "$@"
