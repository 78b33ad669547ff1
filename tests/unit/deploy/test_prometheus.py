"""deploy/prometheus checked by promtool (Debian's ``prometheus`` package; ``make promtool``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parents[3] / "deploy" / "prometheus" / "prometheus.yml"


def _promtool() -> str:
    found = os.environ.get("QUANTDESK_PROMTOOL") or shutil.which("promtool")
    if not found:
        pytest.fail(
            "promtool is needed: run scripts/install-promtool (make promtool), "
            "or set QUANTDESK_PROMTOOL to its path",
            pytrace=False,
        )
    return found


def test_promtool_accepts_the_config_and_its_rules() -> None:
    result = subprocess.run(
        [_promtool(), "check", "config", CONFIG.name],
        cwd=CONFIG.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "SUCCESS: 1 rule files found" in out  # the alert rules were checked too


def test_promtool_rejects_a_broken_config(tmp_path: Path) -> None:
    """The check can fail: a config with a bad scrape interval is refused."""
    bad = tmp_path / "prometheus.yml"
    bad.write_text(CONFIG.read_text().replace("scrape_interval: 15s", "scrape_interval: soon"))
    result = subprocess.run(
        [_promtool(), "check", "config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
