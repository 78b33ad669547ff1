"""SIGKILL during training: no half-written version, the champion always loads.

A child process trains ``linear`` versions into a SQLite registry and is killed
with SIGKILL at random moments (while it builds the data set, fits, writes the
artifact, stores the row or moves an alias), several times, then run to its end.
After every kill: each stored version's artifact exists and matches its stored
checksum, versions are numbered 1..n with no gap or repeat, and the aliases
point at versions that load. A restart continues the numbering.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from quantdesk.calendars.sessions import ExchangeCalendar
from quantdesk.models.datasets.controls import control_universe
from quantdesk.models.registry import ModelRegistry
from quantdesk.storage import open_store
from quantdesk.storage.sql import engine_for

ROOT = Path(__file__).resolve().parents[3]
KILLS = 4


def child(db: Path, model_dir: Path, n: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.unit.models.train_child", str(db), str(model_dir), str(n)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def check(db: Path, model_dir: Path) -> int:
    """Every stored version loads; numbering has no gap; aliases load. The newest version."""
    engine = engine_for(f"sqlite:///{db}")
    try:
        registry = ModelRegistry(engine, model_dir)
        rows = registry.versions.list_versions("linear")
        numbers = sorted(r.version for r in rows)
        assert numbers == list(range(1, len(numbers) + 1))
        for number in numbers:
            _model, row = registry.load("linear", number)  # checksum checked against the file
            assert row.version == number
        for alias in ("champion", "challenger"):
            pointed = registry.versions.alias("linear", alias)
            if pointed is not None:
                assert pointed in numbers
                registry.load("linear", alias)
        return numbers[-1] if numbers else 0
    finally:
        engine.dispose()


def test_sigkill_during_training_leaves_every_version_whole(
    tmp_path: Path, planted_bars: tuple[pd.DataFrame, ExchangeCalendar]
) -> None:
    bars, _ = planted_bars
    db, model_dir = tmp_path / "q.db", tmp_path / "models"
    store = open_store(f"sqlite:///{db}")
    store.upsert_metadata(control_universe(6))
    store.upsert_bars(bars)
    store.close()
    rng = random.Random(7)
    newest = 0
    for _ in range(KILLS):
        proc = child(db, model_dir, 1000)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # one version trained: the interpreter is warm
        assert line.startswith("trained"), proc.stderr.read() if proc.stderr else line
        time.sleep(rng.uniform(0.0, 0.4))  # somewhere inside a later training run
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        after = check(db, model_dir)
        assert after > newest  # each life stored at least the version it announced
        newest = after
    proc = child(db, model_dir, 2)  # a clean life continues the numbering
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.split() == ["trained", str(newest + 1), "trained", str(newest + 2)]
    assert check(db, model_dir) == newest + 2
