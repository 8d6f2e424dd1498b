"""The matrix (scripts/matrix.py) and the Dockerfiles generated from it (scripts/generate.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import matrix  # noqa: E402

from tests.extras import missing  # noqa: E402


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)


def dockerfile(variant: str) -> str:
    image = next(i for i in matrix.images() if i.variant == variant)
    return (ROOT / image.dockerfile).read_text(encoding="utf-8")


def test_generated_files_are_up_to_date() -> None:
    result = run("scripts/generate.py", "--check")
    assert result.returncode == 0, result.stderr


def test_check_reports_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import generate

    image = matrix.images()[0]
    stale = tmp_path / "docker-images" / f"{image.tag}.dockerfile"
    stale.parent.mkdir()
    stale.write_text("FROM scratch\n")
    extra = tmp_path / "docker-images" / "python3.1.dockerfile"
    extra.write_text("FROM scratch\n")
    monkeypatch.setattr(generate, "ROOT", tmp_path)
    found = generate.problems({stale: "FROM x\n", tmp_path / "docker-images" / "python3.99.dockerfile": ""})
    assert found == [
        f"stale: docker-images/{image.tag}.dockerfile",
        "missing: docker-images/python3.99.dockerfile",
        "extra: docker-images/python3.1.dockerfile (not in docker-images/versions.json)",
    ]


def test_every_matrix_entry_has_its_dockerfile() -> None:
    images = matrix.images()
    versions = matrix.load()
    assert len(images) == 2 * len(versions)
    for image in images:
        text = (ROOT / image.dockerfile).read_text(encoding="utf-8")
        assert f"ARG BASE_IMAGE={image.base}\n" in text
        assert text.startswith("# generated from docker-images/Dockerfile.template by scripts/generate.py")


@pytest.mark.parametrize("variant", ["debian", "alpine"])
def test_dockerfile_has_the_required_pieces(variant: str) -> None:
    text = dockerfile(variant)
    for piece in (
        "FROM ${BASE_IMAGE}\n",
        'HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["aiohttp-nginx", "healthcheck"]',
        'ENTRYPOINT ["/entrypoint.sh"]',
        'CMD ["/start.sh"]',
        "EXPOSE 80",
        "LISTEN_PORT=80 ",
        "PYTHONUNBUFFERED=1",
        "RUNTIME_DIR=/tmp/aiohttp-nginx",
        "COPY docker-images/entrypoint.sh /entrypoint.sh",
        "COPY docker-images/app /app",
        "pip install --require-hashes --no-deps --only-binary :all: -r /tmp/aiohttp-nginx-src/build-requirements.txt",
        "pip install --root=/install --require-hashes --no-deps --only-binary :all: -r /tmp/aiohttp-nginx-src/requirements.txt",
        "pip install --root=/install --no-deps --no-build-isolation /tmp/aiohttp-nginx-src",
        "find /install -name '*.so' -exec strip --strip-unneeded {} +",
        "COPY --from=packages /install/usr/local /usr/local",
        "mkdir -p /etc/nginx/conf.d/server",
        'org.opencontainers.image.revision="${REVISION}"',
        "ARG NGINX_VERSION=\n",
        'org.aiohttp-nginx-base.nginx="${NGINX_VERSION:-unpinned}"',
    ):
        assert piece in text, piece
    # derived from settings: unset and $APP_DIR-relative defaults stay out
    assert "PRE_START_PATH" not in text and "STATIC_PATH" not in text and "WEB_CONCURRENCY" not in text
    if variant == "debian":
        assert 'apt-get install -y --no-install-recommends "nginx${NGINX_VERSION:+=$NGINX_VERSION}"' in text
        assert "rm -f /etc/nginx/sites-enabled/default" in text
        assert "ALPINEPYTHON" not in text and "apk " not in text
    else:
        python = next(i for i in matrix.images() if i.variant == "alpine").python
        assert f"ENV ALPINEPYTHON=python{python}\n" in text
        assert 'apk add --no-cache "nginx${NGINX_VERSION:+=$NGINX_VERSION}"' in text and "rm -f /etc/nginx/http.d/default.conf" in text
        assert "sed -i 's/^nginx=.*$/nginx/' /etc/apk/world" in text  # `apk upgrade` downstream still upgrades it
        assert "apt-get" not in text


def test_hadolint_passes_on_every_dockerfile() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        missing("hadolint", "lint")
    files: List[str] = [i.dockerfile for i in matrix.images()]
    result = subprocess.run(
        [hadolint, "--config", ".hadolint.yaml", "--no-color", *files],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout


def test_tags_dry_run() -> None:
    result = run("scripts/matrix.py", "tags", "--date", "2026-11-26")
    assert result.returncode == 0, result.stderr
    tags = result.stdout.split()
    assert {"python3.12", "python3.12-2026-11-26", "python3.12-alpine", "python3.12-alpine-2026-11-26"} <= set(tags)
    assert tags.count("latest") == 1
    assert len(tags) == len(set(tags))


def test_tags_with_registries_and_one_image() -> None:
    result = run(
        "scripts/matrix.py", "tags", "--date", "2026-11-26", "--image", "python3.11-alpine", "--registry", "r.example/x/aiohttp-nginx"
    )
    assert result.stdout.split() == [
        "r.example/x/aiohttp-nginx:python3.11-alpine",
        "r.example/x/aiohttp-nginx:python3.11-alpine-2026-11-26",
    ]
    assert run("scripts/matrix.py", "tags", "--image", "python2.7").returncode == 2


def test_latest_is_the_newest_supported_debian_image() -> None:
    images = matrix.images()
    top = matrix.latest(images)
    tagged = [i for i in images if "latest" in matrix.publish_tags(i, "2026-11-26", i == top)]
    assert tagged == [top]
    assert top.variant == "debian" and not top.legacy
    assert all(matrix._version_key(i.python) <= matrix._version_key(top.python) for i in images if not i.legacy)


def test_publish_tags() -> None:
    image = matrix.Image("python3.12", "3.12", "debian", "python:3.12-slim-trixie", "docker-images/python3.12.dockerfile", False)
    assert matrix.publish_tags(image, "2026-11-26", latest=True) == ["python3.12", "python3.12-2026-11-26", "latest"]
    alpine = matrix.Image("python3.12-alpine", "3.12", "alpine", "python:3.12-alpine3.23", "x", False)
    assert matrix.publish_tags(alpine, "2026-11-26", latest=False) == ["python3.12-alpine", "python3.12-alpine-2026-11-26"]


def test_images_follow_the_version_file() -> None:
    images = matrix.images(
        {"3.9": {"debian": "bookworm", "alpine": "3.20", "legacy": True}, "3.10": {"debian": "trixie", "alpine": "3.23", "legacy": False}}
    )
    assert [(i.tag, i.base) for i in images] == [
        ("python3.9", "python:3.9-slim-bookworm"),
        ("python3.9-alpine", "python:3.9-alpine3.20"),
        ("python3.10", "python:3.10-slim-trixie"),
        ("python3.10-alpine", "python:3.10-alpine3.23"),
    ]
    assert matrix.latest(images).tag == "python3.10"


def test_readme_table_marks_legacy() -> None:
    table = run("scripts/matrix.py", "readme").stdout
    assert "| `python3.8` | 3.8 | `python:3.8-slim-bookworm` | legacy |" in table
    assert "end-of-life Python, no upstream security fixes" in table
    assert table.count("`latest`") == 1
