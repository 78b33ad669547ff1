"""Checkpoint states as tagged JSON: exact round trips, refusals, never a pickle."""

from __future__ import annotations

import math
import pickle
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantdesk.errors import DataError
from quantdesk.storage import checkpoints

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.sampled_from([math.inf, -math.inf])
    | st.text()
)
keys = st.text() | st.integers(-5, 5) | st.sampled_from(["$t", "v"]) | st.tuples(st.integers())
states = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(keys, inner, max_size=4)
    ),
    max_leaves=30,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and types kept (1 is not 1.0, a tuple not a list)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


@given(states)
def test_round_trip_is_exact(state: Any) -> None:
    assert _same(checkpoints.decode(checkpoints.encode(state)), state)


def test_what_the_operators_snapshot() -> None:
    """A running StreamProcessor's snapshot (bars, indicator rings with NaN and
    infinities, signal series) comes back exactly, and restores."""
    import datetime as dt

    from quantdesk.bus import TradeBatch
    from quantdesk.bus import encode as wire
    from quantdesk.calendars import get_calendar
    from quantdesk.runtime.pipeline import Output, StreamProcessor

    xshg = get_calendar("XSHG")
    (start, _), _ = xshg.day_segments(dt.date(2026, 11, 20))
    processor = StreamProcessor(xshg)
    out = Output()
    for k in range(90):
        trade = TradeBatch(
            "600036.SH", [start + k * 20_000 + 500], [10.0 + 0.01 * (k % 7)], [100.0]
        )
        processor.handle("trades", wire(trade), out)
    state = {"processor": processor.snapshot(), "symbols": ["600036.SH"]}
    text = checkpoints.encode(state)
    assert b"nan" in text or b"inf" in text  # warming-up indicators hold non-finite floats
    back = checkpoints.decode(text)
    assert _same(back, state)
    StreamProcessor(xshg).restore(back["processor"])


def test_numpy_scalars_become_python_numbers() -> None:
    back = checkpoints.decode(checkpoints.encode([np.float64(1.5), np.int64(3), np.bool_(True)]))
    assert back == [1.5, 3, True]
    assert [type(v) for v in back] == [float, int, bool]


def test_objects_are_refused_when_saving() -> None:
    with pytest.raises(DataError, match="holds a set"):
        checkpoints.encode({"a": {1, 2}})
    with pytest.raises(DataError, match="holds a object"):
        checkpoints.encode([object()])


def test_pickles_and_foreign_bytes_are_refused_without_unpickling() -> None:
    class Boom:
        def __reduce__(self) -> tuple[Any, ...]:
            raise AssertionError("unpickled")  # pragma: no cover

    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        blob = pickle.dumps({"processor": {}, "symbols": []}, protocol=protocol)
        with pytest.raises(DataError, match="pickle"):
            checkpoints.decode(blob)
    for blob in (b"", b"{oops", orjson.dumps({"state": 1}), orjson.dumps([1, 2])):
        with pytest.raises(DataError, match="unreadable"):
            checkpoints.decode(blob)
    bad_tag = orjson.dumps({"format": checkpoints.FORMAT, "state": {"$t": "object", "v": []}})
    with pytest.raises(DataError, match="unknown type tag"):
        checkpoints.decode(bad_tag)
