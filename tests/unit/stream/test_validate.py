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


def test_id_memory_is_bounded_in_bytes_too() -> None:
    """A feed of very long ids gets a shorter memory, not a larger process."""
    v = TradeValidator(None, id_memory=1_000, id_memory_bytes=10_000)
    one = np.array([1], dtype=np.int64)
    for k in range(50):
        v.check("A", one, np.array([1.0]), np.array([1.0]), [f"{k:04d}" + "x" * 996])
    assert len(v._seen) == 9 and v._id_bytes == sum(len(key) for key in v._seen) <= 10_000
    ok, _ = v.check("A", one, np.array([1.0]), np.array([1.0]), ["0049" + "x" * 996])
    assert not ok.any()  # the newest are remembered
    ok, _ = v.check("A", one, np.array([1.0]), np.array([1.0]), ["0000" + "x" * 996])
    assert ok.all()  # the oldest forgotten


def test_id_memory_holds_steady() -> None:
    """The memory of 100,000 ids stops growing once it is full, at ~12 MiB (issue 16:
    as an OrderedDict it was 16 MiB when full and 22 MiB from 175,000 ids on)."""
    import tracemalloc

    v = TradeValidator(None)  # 100,000 ids
    ts, price, size = np.zeros(1_000, dtype=np.int64), np.ones(1_000), np.ones(1_000)
    held = []
    tracemalloc.start()
    try:
        for batch in range(200):
            v.check("600036.SH", ts, price, size, [f"600036.SH-{batch}-{k}" for k in range(1_000)])
            if batch in (119, 199):
                held.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert len(v._seen) == len(v._order) == 100_000
    assert held[1] <= held[0] + 256 * 1024
    assert held[1] <= 100_000 * 140  # the key (~75 bytes), a set slot (~40), a queue slot
