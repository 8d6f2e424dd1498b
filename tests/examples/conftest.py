"""The examples run on the image of this checkout: `scripts/build.sh` of the first tag in IMAGE_TAGS (default python3.13)."""

from __future__ import annotations

import pytest

from tests.image.helpers import TAGS, build_checkout_image


@pytest.fixture(scope="session")
def aiohttp_nginx_image(aiohttp_nginx_docker: None) -> str:
    """Overrides the test kit's fixture: build the image from this checkout (docker's cache makes a rebuild quick)."""
    return build_checkout_image(TAGS[0])
