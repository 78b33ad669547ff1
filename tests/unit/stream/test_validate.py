"""Bad prints are counted by reason and set aside."""

from __future__ import annotations

import numpy as np

from quantdesk.stream.validate import TradeValidator


def test_each_reason() -> None:
    v = TradeValidator({"A"}, max_skew_ms=1_000)
    ts = np.array([10_000, 10_000, 10_000, 10_000, 50_000, 10_000, 10_000], dtype=np.int64)
    price = np.array([10.0, np.nan, -1.0, 10.0, 10.0, np.inf, 10.0])
    size = np.array([1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    ids = ["a", "b", "c", "d", "e", "f", "a"]
    ok, rejects = v.check("A", ts, price, size, ids, watermark=10_500)
    assert ok.tolist() == [True, False, False, False, False, False, False]
    assert [r for _, r in rejects] == [
        "not_finite",
        "bad_price",
        "bad_size",
        "skew",
        "not_finite",
        "duplicate_id",
    ]
    assert v.counters == {
        "not_finite": 2,
        "bad_price": 1,
        "bad_size": 1,
        "skew": 1,
        "duplicate_id": 1,
    }


def test_unknown_symbol_rejects_the_batch() -> None:
    v = TradeValidator({"A"})
    ok, rejects = v.check("ZZZ", np.array([1, 2]), np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    assert not ok.any() and {r for _, r in rejects} == {"unknown_symbol"}


def test_id_memory_is_bounded() -> None:
    v = TradeValidator(None, id_memory=2)
    one = np.array([1], dtype=np.int64)
    for trade_id in ["x", "y", "z"]:
        v.check("A", one, np.array([1.0]), np.array([1.0]), [trade_id])
    ok, _ = v.check("A", one, np.array([1.0]), np.array([1.0]), ["x"])  # forgotten
    assert ok.all()
    assert len(v._seen) == 2
