"""The CLI starts light: `--help`, `config` and a command's `--help` import no heavy library
(the figures are in benchmarks/bench_cli.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "sklearn",
    "pandas",
    "numpy",
    "numba",
    "fastapi",
    "uvicorn",
    "psycopg",
    "sqlalchemy",
    "confluent_kafka",
    "pyarrow",
    "exchange_calendars",
    "joblib",
    "httpx",
)
PROBE = (
    "import runpy, sys\n"
    "sys.argv = ['quantdesk', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('quantdesk', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "heavy = {m.split('.')[0] for m in sys.modules} & set(%r)\n"
    "print('HEAVY', sorted(heavy), file=sys.stderr)\n"
)


@pytest.mark.parametrize(
    "args", [["--help"], ["config"], ["run", "--help"], ["backfill", "--help"], ["db", "--help"]]
)
def test_start_imports_no_heavy_library(tmp_path: Path, args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTDESK_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = [x for x in done.stderr.splitlines() if x.startswith("HEAVY")]
    assert line == ["HEAVY []"], done.stderr[-2000:]
