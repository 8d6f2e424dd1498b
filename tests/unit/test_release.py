"""The release's dry run: both distributions built, twine-checked, installed into a fresh venv and run (scripts/release_check.py)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

from tests.extras import missing

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "release_check.py"


def test_a_tag_that_does_not_name_the_version_is_refused_before_building(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--tag", "v9.9.9", "--outdir", str(tmp_path / "dist")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.startswith("release check: tag 'v9.9.9' does not name the version ") and result.stderr.count("\n") == 1
    assert not (tmp_path / "dist").exists()


def test_both_distributions_build_check_install_and_run(tmp_path: Path) -> None:
    if importlib.util.find_spec("build") is None or not (
        shutil.which("twine", path=str(Path(sys.executable).parent)) or shutil.which("twine")
    ):
        missing("build and twine", "lint")
    out = tmp_path / "dist"
    result = subprocess.run([sys.executable, str(SCRIPT), "--outdir", str(out)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert "built, twine-checked, installed and run" in result.stdout
    assert sorted(p.suffix for p in out.iterdir()) == [".gz", ".gz", ".whl", ".whl"]
