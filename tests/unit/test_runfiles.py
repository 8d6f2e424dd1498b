"""runfiles.py: the files through which gunicorn's workers tell the stack something once."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

from aiohttp_nginx_base import runfiles


def _claim(run_dir: str) -> bool:
    return runfiles.claim(Path(run_dir), runfiles.LOAD_FAILURE, f"from {os.getpid()}")


def test_of_many_processes_claiming_at_once_exactly_one_speaks(tmp_path: Path) -> None:
    with ProcessPoolExecutor(4) as pool:
        results = list(pool.map(_claim, [str(tmp_path)] * 16))
    assert results.count(True) == 1
    assert runfiles.read(tmp_path, runfiles.LOAD_FAILURE).startswith("from ")


def test_clear_lets_the_next_start_speak_again(tmp_path: Path) -> None:
    assert runfiles.claim(tmp_path, runfiles.RUN_APP_NOTE)
    assert not runfiles.claim(tmp_path, runfiles.RUN_APP_NOTE)
    runfiles.clear(tmp_path)
    assert runfiles.claim(tmp_path, runfiles.RUN_APP_NOTE)


def test_read_is_empty_when_absent_and_bounded(tmp_path: Path) -> None:
    assert runfiles.read(tmp_path, runfiles.LOAD_FAILURE) == ""
    (tmp_path / runfiles.LOAD_FAILURE).write_text("x" * 10000)
    assert len(runfiles.read(tmp_path, runfiles.LOAD_FAILURE)) == 4096


def test_a_planted_symlink_is_neither_followed_nor_written_through(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("not for the log")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / runfiles.LOAD_FAILURE).symlink_to(secret)
    assert runfiles.read(run_dir, runfiles.LOAD_FAILURE) == ""
    assert not runfiles.claim(run_dir, runfiles.LOAD_FAILURE, "overwritten")
    assert secret.read_text() == "not for the log"


def test_a_planted_hard_link_is_not_read(tmp_path: Path) -> None:
    # RUNTIME_DIR/reports belongs to the workers' user (APP_USER): a hard link there would be another file's text
    secret = tmp_path / "secret"
    secret.write_text("not for the log")
    reports = tmp_path / "reports"
    reports.mkdir()
    os.link(secret, reports / runfiles.LOAD_FAILURE)
    assert runfiles.read(reports, runfiles.LOAD_FAILURE) == ""


def test_without_a_writable_directory_every_caller_speaks(tmp_path: Path) -> None:
    assert runfiles.claim(tmp_path / "missing", runfiles.LOAD_FAILURE)
    assert runfiles.claim(tmp_path / "missing", runfiles.LOAD_FAILURE)


def test_a_planted_fifo_does_not_hold_the_reader(tmp_path: Path) -> None:
    # the attack: the app's user leaves a FIFO where the reason goes; the stack (PID 1) reading it when
    # gunicorn exits would block in open() forever, and never stop nor say why
    fifo = tmp_path / runfiles.LOAD_FAILURE
    os.mkfifo(str(fifo))
    with ThreadPoolExecutor(1) as pool:
        read = pool.submit(runfiles.read, tmp_path, runfiles.LOAD_FAILURE)
        try:
            assert read.result(timeout=5) == ""
        finally:
            if not read.done():  # release the blocked reader, so that a failure is a failure, not a hang
                os.close(os.open(str(fifo), os.O_WRONLY | os.O_NONBLOCK))
