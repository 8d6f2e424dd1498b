#!/bin/sh
# Development: like /start.sh, but gunicorn restarts its workers when a file of the app changes.
exec /start.sh --reload
