"""A test that needs a tool of an optional extra: skipped with the install line where the extra is not installed,
a failure where every extra must be (REQUIRE_EXTRAS=1, which .ci/run sets: CI installs them all)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(what: str, extra: str) -> NoReturn:
    message = f"{what} is not installed: pip install -e '.[{extra}]'"
    if os.environ.get("REQUIRE_EXTRAS") == "1":
        pytest.fail(f"{message} (REQUIRE_EXTRAS=1: every extra is required)", pytrace=False)
    pytest.skip(message)
