"""Run by ``test_previous_release_store.py`` under the *previous release's* package.

``python previous_release_writer.py URL DATA_DIR OUT.json`` with ``PYTHONPATH``
naming the extracted package: it creates a store with that release's code,
fills every table family, and writes to ``OUT.json`` what that release
answers (the ``/api/klines`` bodies of :data:`REQUESTS`, and each family read
back through its store methods). Only public API that every release has is
used here, nothing from the tests package.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

T0 = 1_706_000_400_000  # 2024-01-23 09:00 UTC: the bars cross into February
DAY = 86_400_000
SYMBOLS = ("600036.SH", "000001.SZ", "AAPL")

#: /api/klines queries answered by both releases (symbol, interval, limit, start, end).
REQUESTS: list[dict[str, Any]] = [
    {"symbol": "600036.SH"},
    {"symbol": "600036.SH", "limit": 5},
    {"symbol": "000001.SZ", "interval": "5m", "limit": 1000},
    {"symbol": "AAPL", "interval": "1d", "limit": 3},
    {"symbol": "AAPL", "interval": "1m", "start": T0 + 3 * DAY, "end": T0 + 9 * DAY},
    {"symbol": "600036.SH", "start": "2024-01-31T23:00:00Z", "end": "2024-02-01T01:00:00Z"},
    {"symbol": "000001.SZ", "interval": "1h", "end": T0 + 20 * DAY, "limit": 7},
    {"symbol": "600519.SH"},  # in the universe, no bars
    {"symbol": "NOPE"},  # unknown: 404
]


def bars() -> pd.DataFrame:
    """1m bars on 24 days (1,200 a day per symbol, enough for PostgreSQL's new-month
    COPY path), 5m, 60m and 1d bars; some vwaps missing."""
    rng = np.random.default_rng(7)
    frames = []
    for k, symbol in enumerate(SYMBOLS):
        for interval, step, n in (
            ("1m", 60_000, 24 * 1_200),
            ("5m", 300_000, 24 * 240),
            ("60m", 3_600_000, 24 * 20),
            ("1d", DAY, 24),
        ):
            times = T0 + np.arange(n, dtype=np.int64) * step
            if interval == "1m":  # 1,200 minutes from 09:00 each day
                times = T0 + (np.arange(n) // 1_200) * DAY + (np.arange(n) % 1_200) * step
            close = 10 + k + np.cumsum(rng.normal(0, 0.01, n))
            vwap = close + 0.001
            vwap[::17] = np.nan
            frames.append(
                pd.DataFrame(
                    {
                        "symbol": symbol,
                        "interval": interval,
                        "time": times,
                        "open": close + 0.002,
                        "high": close + 0.01,
                        "low": close - 0.01,
                        "close": close,
                        "volume": rng.integers(100, 10_000, n).astype(float),
                        "vwap": vwap,
                        "trades": rng.integers(1, 50, n),
                        "source": "simulator" if k else "import:csv",
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def plain(value: Any) -> Any:
    """Store results as JSON-ready data (dataclasses, tuples, NaN as a string)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float) and value != value:
        return "NaN"
    return value


def fill(store: Any) -> None:
    """Write every table family through the store's methods."""
    from quantdesk.bus import DeadLetter
    from quantdesk.domain import FactorValue, ScoredTweet, Signal, StockState
    from quantdesk.sources.simulator import default_universe
    from quantdesk.storage import MarketStatus, PriceRow

    store.upsert_metadata(default_universe("cn"))
    store.upsert_bars(bars())
    store.save_states(
        [StockState("600036.SH", T0, 35.2, 0.25, 0.1, "bull", T0 + 3_600_000, {"k": 1.5})]
    )
    store.set_market_status(MarketStatus("cn", "open", "morning", T0))
    store.upsert_prices([PriceRow(s, T0 + k, 10.0 + k, 100.0, "simulator") for k, s in
                         enumerate(SYMBOLS)])  # fmt: skip
    store.upsert_factors(
        [FactorValue("600036.SH", T0 + k * 60_000, "obi", 0.1 * k, "") for k in range(20)]
        + [FactorValue("600036.SH", T0 + k * 60_000, "rsi_14", 50.0 + k, "1m") for k in range(20)]
    )
    store.upsert_signals(
        [Signal("600036.SH", T0 + k * 60_000, "obi", 0.7, "buy", "obi") for k in range(3)]
        + [Signal("AAPL", T0, "rsi_14", 71.0, "sell", "rsi")]
    )
    store.add_dead_letters([DeadLetter("bad_json", "trades", b"{oops", "not JSON")] * 2)
    # What workers of that release stored: a pickle of the operator state.
    import pickle

    store.save_checkpoint(
        "quantdesk-stream", "trades", 0, 41, pickle.dumps({"processor": {}, "symbols": []})
    )
    store.add_user("admin", "$argon2id$v=19$m=65536,t=3,p=4$old", "admin")
    store.add_user("guest", "$argon2id$v=19$m=65536,t=3,p=4$old2", "guest")
    store.save_signal_rule("obi", {"id": "obi", "factor": "obi", "buy_above": 0.6})
    store.save_signal_rule("gone", None)
    store.upsert_tweets(
        [
            ScoredTweet(
                str(10**18 + k),
                T0 + k * 1_000,
                f"$AAPL news {k}",
                ("AAPL",),
                0.5 - k / 10,
                "positive",
                "mocker",
                author_id="42",
            )
            for k in range(5)
        ]
    )


def reads(store: Any) -> dict[str, Any]:
    """Every family read back through the store's methods."""
    return plain(
        {
            "count_bars": store.count_bars(),
            "count_1m": store.count_bars(interval="1m"),
            "count_aapl": store.count_bars("AAPL"),
            "last_1m": store.last_bar_time("1m"),
            "last_aapl_1d": store.last_bar_time("1d", "AAPL"),
            "metadata": store.list_metadata(),
            "states": store.load_states(),
            "status": store.get_market_status("cn"),
            "prices": store.get_prices(),
            "prices_some": store.get_prices(["AAPL", "NOPE"]),
            "factors": store.query_factors("600036.SH"),
            "factors_newest": store.query_factors("600036.SH", "rsi_14", "1m", limit=3),
            "signals": store.query_signals(),
            "signals_aapl": store.query_signals("AAPL", limit=1),
            "dead": store.dead_letter_counts(),
            "users": store.list_users(),
            "rules": store.load_signal_rules(),
            "tweets": store.query_tweets("AAPL", limit=3),
            "tweets_all": store.query_tweets(start=T0 + 1_000, end=T0 + 4_000),
        }
    )


def answers(store: Any, data_dir: Path) -> dict[str, Any]:
    """The /api/klines answers of ``create_app`` over ``store`` (status, body)."""
    from fastapi.testclient import TestClient

    from quantdesk.api.app import create_app
    from quantdesk.config import load_settings

    settings = load_settings(data_dir=data_dir)
    out = {}
    try:  # this release: the app takes a typed context
        from quantdesk.api.context import ApiContext

        app = create_app(ApiContext(store, settings), echo=lambda _m: None)
    except ImportError:  # the previous release: the store and settings
        app = create_app(store, settings, echo=lambda _m: None)
    with TestClient(app) as client:
        for request in REQUESTS:
            r = client.get("/api/klines", params=request)
            out[json.dumps(request, sort_keys=True)] = [r.status_code, r.text]
    return out


def main() -> None:
    url, data_dir, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    import quantdesk
    from quantdesk.storage import open_store

    with open_store(url) as store:
        fill(store)
        result = {
            "package": quantdesk.__file__,
            "version": store.migrate(),
            "klines": answers(store, data_dir),
            "reads": reads(store),
        }
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
