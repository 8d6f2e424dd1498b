#!/bin/sh
# Exported here, read by the app: proves the hook is sourced, not run in a subshell.
export GREETING="from prestart"
