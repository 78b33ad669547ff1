"""CLI start time: ``quantdesk --help`` and ``quantdesk config`` beside a bare interpreter.

Each command runs as a fresh process (``python -m quantdesk ...`` with this
interpreter) in an empty folder with no ``QUANTDESK_*`` variables, so only the
start-up is measured: imports, settings, the typer app. The figure is the
median wall time of several runs; the baseline is ``python -c pass`` measured
the same way in the same run (the interpreter's own start). Target (issue 11,
item 5): at most 0.5 s for ``--help`` and ``config``. The heavy libraries
(scikit-learn, pandas, NumPy, Numba, FastAPI, psycopg, SQLAlchemy, Kafka,
PyArrow, exchange-calendars) are imported only by the commands that use them;
``tests/unit/commands/test_start.py`` keeps them out of these start paths.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks._report import Figure

TARGET_S = 0.5
COMMANDS: list[tuple[str, list[str], float | None]] = [
    ("quantdesk --help", ["-m", "quantdesk", "--help"], TARGET_S),
    ("quantdesk config", ["-m", "quantdesk", "config"], TARGET_S),
    ("quantdesk run --help", ["-m", "quantdesk", "run", "--help"], None),
    ("quantdesk backfill --help", ["-m", "quantdesk", "backfill", "--help"], None),
]


def _median_s(args: list[str], runs: int, cwd: str, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, *args], cwd=cwd, env=env, capture_output=True, check=False
        )
        times.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.decode()[-500:]}")
    return statistics.median(times)


def run(quick: bool = False) -> list[Figure]:
    runs = 3 if quick else 9
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTDESK_")}
    with tempfile.TemporaryDirectory() as cwd:
        _median_s(["-m", "quantdesk", "--help"], 1, cwd, env)  # warm the file cache
        bare = _median_s(["-c", "pass"], runs, cwd, env)
        figures = []
        for name, args, target in COMMANDS:
            value = _median_s(args, runs, cwd, env)
            figures.append(
                Figure(
                    f"{name} (median of {runs} starts)",
                    value,
                    "s",
                    baseline=bare,
                    baseline_name="python -c pass",
                    higher_is_better=False,
                    target=target,
                )
            )
    return figures
