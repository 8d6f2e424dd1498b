"""Fails: a module that is not installed."""

import this_module_does_not_exist  # noqa: F401
