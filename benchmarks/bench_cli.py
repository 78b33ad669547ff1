"""CLI start time: ``quantdesk --help`` and ``quantdesk config`` beside a bare interpreter.

Each command runs as a fresh process (``python -m quantdesk ...`` with this
interpreter) in an empty folder with no ``QUANTDESK_*`` variables, so only the
start-up is measured: imports, settings, the typer app. The figure is the
median wall time of several runs; the baseline is ``python -c pass`` measured
the same way in the same run (the interpreter's own start). Target (issue 11,
item 5): at most 0.5 s for ``--help`` and ``config``. The CPU time (user +
system) of the same processes is printed too: on a machine shared with other
work the wall time mostly measures the queue for a core, the CPU time what
the start costs. The heavy libraries
(scikit-learn, pandas, NumPy, Numba, FastAPI, psycopg, SQLAlchemy, Kafka,
PyArrow, exchange-calendars) are imported only by the commands that use them;
``tests/unit/commands/test_start.py`` keeps them out of these start paths.
"""

from __future__ import annotations

import os
import resource
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


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _median_s(args: list[str], runs: int, cwd: str, env: dict[str, str]) -> tuple[float, float]:
    """Median wall and CPU seconds of ``runs`` starts of ``python ARGS``."""
    walls, cpus = [], []
    for _ in range(runs):
        c0, t0 = _cpu(), time.perf_counter()
        done = subprocess.run(
            [sys.executable, *args], cwd=cwd, env=env, capture_output=True, check=False
        )
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu() - c0)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.decode()[-500:]}")
    return statistics.median(walls), statistics.median(cpus)


def run(quick: bool = False) -> list[Figure]:
    runs = 3 if quick else 9
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTDESK_")}
    with tempfile.TemporaryDirectory() as cwd:
        _median_s(["-m", "quantdesk", "--help"], 1, cwd, env)  # warm the file cache
        bare, bare_cpu = _median_s(["-c", "pass"], runs, cwd, env)
        figures = []
        for name, args, target in COMMANDS:
            wall, cpu = _median_s(args, runs, cwd, env)
            figures.append(
                Figure(
                    f"{name} wall (median of {runs} starts)",
                    wall,
                    "s",
                    baseline=bare,
                    baseline_name="python -c pass",
                    higher_is_better=False,
                    target=target,
                )
            )
            figures.append(
                Figure(
                    f"{name} CPU user+sys",
                    cpu,
                    "s",
                    baseline=bare_cpu,
                    baseline_name="python -c pass",
                    higher_is_better=False,
                )
            )
    return figures
