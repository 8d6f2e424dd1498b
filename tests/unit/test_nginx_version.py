"""scripts/nginx_version.py reads what apt and apk say they would install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import nginx_version  # noqa: E402

APT = """nginx:
  Installed: (none)
  Candidate: 1.26.3-3+deb13u11
  Version table:
     1.26.3-3+deb13u11 500
        500 http://deb.debian.org/debian-security trixie-security/main amd64 Packages
"""
APK = """(1/5) Installing pcre2 (10.43-r0)
(4/5) Installing nginx-common (1.28.0-r3)
(5/5) Installing nginx (1.28.0-r3)
OK: 12 MiB in 30 packages
"""


def test_the_candidate_apt_would_install() -> None:
    assert nginx_version.parse("debian", APT) == "1.26.3-3+deb13u11"


def test_the_package_apk_would_install_not_its_dependencies() -> None:
    assert nginx_version.parse("alpine", APK) == "1.28.0-r3"


@pytest.mark.parametrize(
    "variant, output",
    [
        ("debian", "nginx:\n  Installed: (none)\n  Candidate: (none)\n"),
        ("debian", ""),
        ("alpine", "ERROR: unable to select packages:\n  nginx (no such package)\n"),
        # an index (or a man in the middle) that answers something a shell or a label would read twice
        ("debian", "  Candidate: 1.0$(reboot)\n"),
        ("alpine", "Installing nginx (1.0;rm)\n"),
    ],
)
def test_no_version_or_a_hostile_one_is_refused(variant: str, output: str) -> None:
    with pytest.raises(nginx_version.Unanswered):
        nginx_version.parse(variant, output)


def test_an_unknown_tag_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert nginx_version.main(["python2.7"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nginx_version.py: python2.7: unknown image tag"), err


def test_platforms_that_disagree_stop_the_build_before_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    # a Debian security update built for amd64 hours before arm64: one image for both cannot pin one version
    offered = {"linux/amd64": "1.26.3-3+deb13u12", "linux/arm64": "1.26.3-3+deb13u11"}
    monkeypatch.setattr(nginx_version, "ask_one", lambda base, variant, platform="": offered[platform])
    with pytest.raises(nginx_version.Unanswered, match="indexes differ"):
        nginx_version.ask("python:3.13-slim-trixie", "debian", list(offered))
    offered["linux/arm64"] = offered["linux/amd64"]
    assert nginx_version.ask("python:3.13-slim-trixie", "debian", list(offered)) == "1.26.3-3+deb13u12"
