"""`make run` installs only when pyproject.toml or the assets list changed since the last
install."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    if shutil.which("make") is None:
        pytest.fail("make is needed (it is how a user installs and runs quantdesk)")
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "quantdesk" / "web").mkdir(parents=True)
    (tmp_path / "quantdesk" / "web" / "assets.py").write_text("ASSETS = ()\n")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text("")
    return tmp_path


def _plan(tree: Path) -> str:
    """What `make run` would do (dry run: nothing is executed)."""
    out = subprocess.run(
        ["make", "-n", "run"], cwd=tree, capture_output=True, text=True, check=True, timeout=30
    )
    return out.stdout


def _age(path: Path, seconds_ago: float) -> None:
    t = path.stat().st_mtime - seconds_ago if path.exists() else 1e9
    os.utime(path, (t, t))


def test_run_installs_first_time_then_only_after_a_change(tree: Path) -> None:
    stamp = tree / ".venv" / ".quantdesk-installed"
    assert "pip install" in _plan(tree)  # never installed

    for dep in (tree / "pyproject.toml", tree / "quantdesk" / "web" / "assets.py"):
        _age(dep, 100)
    stamp.touch()
    plan = _plan(tree)
    assert "pip install" not in plan and "quantdesk.web.assets" not in plan
    assert "quantdesk run" in plan

    (tree / "pyproject.toml").touch()  # a dependency changed
    _age(stamp, 50)
    assert "pip install" in _plan(tree)

    stamp.touch()
    assert "pip install" not in _plan(tree)
    (tree / "quantdesk" / "web" / "assets.py").touch()  # the pinned assets changed
    _age(stamp, 50)
    plan = _plan(tree)
    assert "pip install" in plan and "quantdesk.web.assets" in plan


def test_explicit_install_targets_record_the_install() -> None:
    text = (ROOT / "Makefile").read_text()
    for target in ("install:", "install-test:"):
        recipe = text.split(f"\n{target}", 1)[1].split("\n\n", 1)[0]
        assert "touch $(STAMP)" in recipe, target
