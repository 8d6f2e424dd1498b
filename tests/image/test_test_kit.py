"""The test kit stays out of the production images: neither the pytest plugin nor its harness is in them."""

from __future__ import annotations

import pytest

from tests.image.helpers import docker

pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]


def python_in(image: str, code: str) -> str:
    """What `python -c CODE` prints in a fresh container of the image; its exit status must be non-zero."""
    result = docker("run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c", code, timeout=120, check=False)
    assert result.returncode != 0, result.stdout
    return result.stdout


def test_the_image_does_not_carry_the_test_kit(image: str) -> None:
    assert "No module named 'pytest_aiohttp_nginx'" in python_in(image, "import pytest_aiohttp_nginx")


def test_the_old_plugin_path_in_the_image_only_says_where_the_kit_went(image: str) -> None:
    out = python_in(image, "import aiohttp_nginx_base.pytest_plugin")
    assert "pip install pytest-aiohttp-nginx" in out.splitlines()[-1]
