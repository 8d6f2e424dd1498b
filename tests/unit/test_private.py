"""The runtime directory's guards (private.py): what is refused, and writes that never follow a planted name."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from aiohttp_nginx_base import private
from aiohttp_nginx_base.settings import SettingsError


def test_a_new_directory_is_created_with_exactly_the_mode_asked(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        private.ensure_private_dir(tmp_path / "a" / "rt", "RUNTIME_DIR", 0o711)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a" / "rt").stat().st_mode) == 0o711


def test_our_own_existing_directory_is_used_and_tightened(tmp_path: Path) -> None:
    runtime = tmp_path / "rt"
    runtime.mkdir(mode=0o755)
    private.ensure_private_dir(runtime, "RUNTIME_DIR")
    assert stat.S_IMODE(runtime.stat().st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_our_own_directory_writable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    runtime = tmp_path / "rt"
    runtime.mkdir()
    runtime.chmod(mode)
    with pytest.raises(SettingsError) as caught:
        private.ensure_private_dir(runtime, "RUNTIME_DIR")
    assert caught.value.name == "RUNTIME_DIR" and "writable" in str(caught.value)


def test_a_symlink_at_the_runtime_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "rt").symlink_to(tmp_path / "real")
    with pytest.raises(SettingsError, match="symlink"):
        private.ensure_private_dir(tmp_path / "rt", "RUNTIME_DIR")


def test_a_parent_others_can_write_to_without_the_sticky_bit_is_refused(tmp_path: Path) -> None:
    parent = tmp_path / "open"
    parent.mkdir()
    parent.chmod(0o777)  # anyone could rename our directory away and put theirs in its place
    with pytest.raises(SettingsError, match="not sticky"):
        private.ensure_private_dir(parent / "rt", "RUNTIME_DIR")
    parent.chmod(0o1777)  # like /tmp: fine
    private.ensure_private_dir(parent / "rt", "RUNTIME_DIR")


def test_files_replace_a_planted_symlink_instead_of_following_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir(mode=0o700)
    (out / "nginx.conf").symlink_to(victim)
    private.write_private_files(out, {"nginx.conf": "generated"})
    assert victim.read_text() == "precious"
    assert not (out / "nginx.conf").is_symlink()
    assert (out / "nginx.conf").read_text() == "generated"
    assert stat.S_IMODE((out / "nginx.conf").stat().st_mode) == 0o600


def test_a_failed_write_changes_none_of_the_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir(mode=0o700)
    (out / "a.conf").write_text("old a")
    with pytest.raises(UnicodeEncodeError):
        private.write_private_files(out, {"a.conf": "new a", "b.conf": "\udc80 cannot be encoded"})
    assert (out / "a.conf").read_text() == "old a"
    assert sorted(p.name for p in out.iterdir()) == ["a.conf"]  # no temporary files left


def test_first_closed_to_names_the_directory_a_user_cannot_pass(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    nobody = 65534
    assert private.first_closed_to(closed / "rt", nobody, [nobody]) in (closed, tmp_path, tmp_path.parent, tmp_path.parent.parent)
    closed.chmod(0o711)
    tmp_path.chmod(0o755)
    assert private.first_closed_to(closed / "rt", os.geteuid(), [os.getegid()]) is None
