"""One workload of ``bench_release``, run under whichever release ``PYTHONPATH`` names.

``python benchmarks/release_child.py WORKLOAD ARGS...`` (run as a script, so that
``quantdesk`` is imported from ``PYTHONPATH``: the previous release's tree or
this one). Only API that both releases have is used. The result is one JSON
line on stdout.

=========================================  ===========================================
workload                                   result
=========================================  ===========================================
``backfill URL SYMBOLS DAYS``              ``simulate_into`` of SYMBOLS x DAYS: rows, s, cpu
``build URL BARS``                         the /api/klines store (10 symbols of 1m bars)
``query URL COUNT SEED``                   ``query_bars(limit=200)`` latencies (s), cpu
``sink URL BATCHES``                       factor values + signals through the sink: s, cpu
``serve URL PORT``                         serves the API as ``quantdesk serve`` does (the
                                           CPU seconds it spent serving go to the file
                                           ``QD_BENCH_CPU_FILE`` names)
=========================================  ===========================================
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SYMBOLS = [f"{600000 + i:06d}.SH" for i in range(10)]
T0 = 1_700_000_000_000 // 60_000 * 60_000


def backfill(url: str, n_symbols: int, n_days: int) -> dict[str, Any]:
    from quantdesk.calendars import get_calendar
    from quantdesk.domain import StockMeta

    try:
        from quantdesk.backfill.run import simulate_into
    except ImportError:  # releases before the layout change
        from quantdesk.ingest.backfill import simulate_into  # type: ignore[no-redef]
    from quantdesk.sources.simulator import SimulatorParams, default_universe
    from quantdesk.storage import open_store

    base = default_universe("cn")
    stocks = []
    for i in range(n_symbols):
        m = base[i % len(base)]
        code = m.symbol if i < len(base) else f"{688000 + i:06d}.SH"
        stocks.append(
            StockMeta(code, f"{m.name} #{i}", m.market, m.sector, m.base_price, m.volatility,
                      m.base_volume, m.calendar)
        )  # fmt: skip
    calendar = get_calendar("XSHG")
    days = calendar.last_trading_days(n_days, dt.date(2026, 1, 1))
    with open_store(url) as store:
        t0, c0 = time.perf_counter(), time.process_time()
        _, rows, _ = simulate_into(store, stocks, calendar, days, seed=42, params=SimulatorParams())
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"rows": rows, "seconds": seconds, "cpu": cpu}


def build(url: str, n_bars: int) -> dict[str, Any]:
    from quantdesk.domain import BAR_COLUMNS
    from quantdesk.sources.simulator import default_universe
    from quantdesk.storage import open_store

    per = n_bars // len(SYMBOLS)
    rng = np.random.default_rng(1)
    with open_store(url) as store:
        store.upsert_metadata(default_universe("cn"))
        for sym in SYMBOLS:
            close = 10 + np.cumsum(rng.normal(0, 0.01, per))
            frame = pd.DataFrame(
                {
                    "symbol": sym,
                    "interval": "1m",
                    "time": T0 + np.arange(per, dtype=np.int64) * 60_000,
                    "open": close,
                    "high": close + 0.01,
                    "low": close - 0.01,
                    "close": close,
                    "volume": 1000.0,
                    "vwap": close,
                    "trades": 10,
                    "source": "simulator",
                }
            )[list(BAR_COLUMNS)]
            store.upsert_bars(frame)
        return {"bars": store.count_bars()}


def query(url: str, count: int, seed: int) -> dict[str, Any]:
    """Half the newest 200 bars, half the 200 before a random time (as ``bench_storage``)."""
    from quantdesk.storage import open_store

    rng = random.Random(seed)
    with open_store(url) as store:
        newest = store.last_bar_time("1m") or T0
        queries = []
        for _ in range(count):
            sym = rng.choice(SYMBOLS)
            if rng.random() < 0.5:
                queries.append((sym, None, None))
            else:
                end = rng.randrange(T0 + 300 * 60_000, newest)
                queries.append((sym, end - 30 * 86_400_000, end))
        for sym, start, end in queries[:200]:  # warm caches and prepared statements
            store.query_bars(sym, "1m", start, end, 200)
        out = []
        c0 = time.process_time()
        for sym, start, end in queries:
            t0 = time.perf_counter()
            rows = store.query_bars(sym, "1m", start, end, 200)
            out.append(time.perf_counter() - t0)
            assert len(rows) == 200, len(rows)
        cpu = time.process_time() - c0
    return {"latencies": out, "cpu": cpu}


def sink(url: str, batches: int) -> dict[str, Any]:
    """What a stream consumer writes per poll: 200 factor values and 5 signals per batch."""
    from quantdesk.domain import FactorValue, Signal
    from quantdesk.storage import open_store

    with open_store(url) as store:
        t0, c0 = time.perf_counter(), time.process_time()
        for b in range(batches):
            ts = T0 + b * 60_000
            store.upsert_factors(
                [FactorValue(s, ts, f"f{k}", 0.1 * k + b, "1m") for s in SYMBOLS for k in range(20)]
            )
            store.upsert_signals([Signal(s, ts, "f1", 0.5, "buy", "r1") for s in SYMBOLS[:5]])
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"rows": batches * 205, "seconds": seconds, "cpu": cpu}


def serve(url: str, port: int) -> None:
    import uvicorn

    from quantdesk.api.app import create_app
    from quantdesk.config import load_settings
    from quantdesk.runtime.server import api_config, freeze_startup_objects
    from quantdesk.storage import open_store

    store = open_store(url)
    try:  # this release: create_app takes an ApiContext; the previous one (store, settings)
        from quantdesk.api.context import ApiContext
    except ImportError:
        app = create_app(store, load_settings(), echo=lambda _m: None)
    else:
        app = create_app(ApiContext(store, load_settings()), echo=lambda _m: None)
    server = uvicorn.Server(api_config(app, "127.0.0.1", port))
    freeze_startup_objects()
    cpu_file = os.environ.get("QD_BENCH_CPU_FILE")
    start = time.process_time()

    def done(*_: Any) -> None:  # uvicorn raises SIGTERM again once it has shut down
        if cpu_file:  # the CPU seconds spent serving
            Path(cpu_file).write_text(json.dumps(time.process_time() - start))
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, done)
    server.run()


def main(argv: list[str]) -> None:
    workload, url, *rest = argv
    if workload == "serve":
        serve(url, int(rest[0]))
        return
    result: dict[str, Any]
    if workload == "backfill":
        result = backfill(url, int(rest[0]), int(rest[1]))
    elif workload == "build":
        result = build(url, int(rest[0]))
    elif workload == "query":
        result = query(url, int(rest[0]), int(rest[1]))
    elif workload == "sink":
        result = sink(url, int(rest[0]))
    else:
        raise SystemExit(f"unknown workload {workload!r}")
    import quantdesk

    result["package"] = quantdesk.__file__
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
