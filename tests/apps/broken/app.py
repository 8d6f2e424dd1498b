"""An app that fails at import: the stack must exit non-zero, loudly."""

import this_module_does_not_exist  # noqa: F401
