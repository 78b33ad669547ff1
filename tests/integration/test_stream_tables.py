"""Stream tables on both backends: factor values, signals, dead letters, checkpoints."""

from __future__ import annotations

import logging
import math
import os
import pickle
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from quantdesk.bus import DeadLetter
from quantdesk.domain import FactorValue, Signal
from quantdesk.storage import Store
from quantdesk.storage.streams import STREAM_CHECKPOINTS

T = 1_795_138_200_000


def test_factors_upsert_and_query(store: Store) -> None:
    rows = [FactorValue("A", T + i * 1000, "obi", i / 10, "") for i in range(10)]
    store.upsert_factors(rows)
    store.upsert_factors(rows[:3])  # redelivered: no duplicates
    store.upsert_factors([FactorValue("A", T, "obi", 0.99, "")])  # replaced
    got = store.query_factors("A", "obi")
    assert len(got) == 10 and got[0].value == 0.99
    newest = store.query_factors("A", "obi", limit=3)
    assert [f.ts for f in newest] == [T + 7000, T + 8000, T + 9000]
    assert store.query_factors("A", "obi", start=T + 2000, end=T + 4000)[0].ts == T + 2000
    store.upsert_factors([FactorValue("A", T, "rsi_14", 55.0, "5m")])
    assert store.query_factors("A", interval="5m")[0].name == "rsi_14"


def test_signals_upsert_and_filter(store: Store) -> None:
    sigs = [
        Signal("A", T, "obi", 0.7, "buy", "r1"),
        Signal("A", T + 5000, "obi", -0.7, "sell", "r1"),
        Signal("B", T + 1000, "rsi_14", 25.0, "buy", "r2"),
    ]
    store.upsert_signals(sigs)
    store.upsert_signals(sigs)
    assert len(store.query_signals()) == 3
    assert [s.side for s in store.query_signals(symbol="A")] == ["buy", "sell"]
    assert store.query_signals(rule_id="r2")[0].symbol == "B"
    assert len(store.query_signals(limit=1)) == 1


def test_dead_letters_and_checkpoints(store: Store) -> None:
    store.add_dead_letters(
        [
            DeadLetter("bad_json", "trades", b"{oops", "not JSON"),
            DeadLetter("bad_json", "trades", b"\xff\xfe", "not JSON"),
            DeadLetter("skew", "trades", b"{}", "far"),
        ]
    )
    assert store.dead_letter_counts() == {"bad_json": 2, "skew": 1}
    assert store.load_checkpoint("g", "t", 0) is None
    store.save_checkpoint("g", "t", 0, 41, {"n": 1})
    state = {"bars": [[1, 2.5, math.nan, -math.inf]], "rows": (1, "x"), "nul": "\x00"}
    store.save_checkpoint("g", "t", 0, 42, state)
    offset, got = store.load_checkpoint("g", "t", 0) or (None, None)
    assert offset == 42
    assert got["rows"] == (1, "x") and got["nul"] == "\x00"
    assert got["bars"][0][:2] == [1, 2.5] and math.isnan(got["bars"][0][2])
    assert got["bars"][0][3] == -math.inf
    assert store.load_checkpoint("other", "t", 0) is None


def test_a_pickled_checkpoint_is_never_loaded(
    store: Store, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A row holding a pickle (earlier releases, or someone with write access) is
    refused with one log line, without unpickling: the partition starts afresh."""

    class Boom:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    store.save_checkpoint("g", "t", 0, 7, {"n": 1})
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(STREAM_CHECKPOINTS).values(state=pickle.dumps({"processor": Boom()}))
        )
    with caplog.at_level(logging.WARNING, logger="quantdesk.storage"):
        assert store.load_checkpoint("g", "t", 0) is None
    lines = [r.getMessage() for r in caplog.records if r.name == "quantdesk.storage"]
    assert len(lines) == 1 and "pickle" in lines[0] and "\n" not in lines[0]
    assert not (tmp_path / "pwned").exists()
