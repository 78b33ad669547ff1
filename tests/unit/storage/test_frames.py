"""prepare_bars: validation, key order, last-row-wins de-duplication."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.domain import BAR_COLUMNS
from quantdesk.errors import DataError
from quantdesk.storage.frames import prepare_bars

from ._bars import T0, bar_frame, model_of


def _rows(frame: pd.DataFrame) -> list[tuple[str, str, int, float]]:
    arrays = prepare_bars(frame)
    return [
        (
            arrays.symbol_names[s],
            arrays.interval_names[i],
            int(t),
            float(o),
        )
        for s, i, t, o in zip(
            arrays.symbol_codes,
            arrays.interval_codes,
            arrays.time,
            arrays.floats["open"],
            strict=True,
        )
    ]


def test_sorts_by_key_and_keeps_the_last_duplicate() -> None:
    frame = bar_frame(["MSFT", "AAPL"], 3)
    dup = frame.iloc[[1]].copy()
    dup["open"] = 999.0
    shuffled = pd.concat([frame.iloc[::-1], dup], ignore_index=True)
    rows = _rows(shuffled)
    assert [r[:3] for r in rows] == sorted(r[:3] for r in rows)
    assert len(rows) == 6
    assert (frame.loc[1, "symbol"], "1m", int(frame.loc[1, "time"]), 999.0) in rows


def test_sorted_input_is_not_copied_out_of_order() -> None:
    frame = bar_frame(["AAPL", "MSFT"], 5)
    arrays = prepare_bars(frame)
    assert arrays.time.tolist() == frame["time"].tolist()


def test_missing_columns_are_named() -> None:
    with pytest.raises(DataError, match="vwap, trades"):
        prepare_bars(bar_frame().drop(columns=["vwap", "trades"]))


@pytest.mark.parametrize("column", ["symbol", "open", "close", "trades", "source"])
def test_empty_values_are_rejected(column: str) -> None:
    frame = bar_frame(n=3)
    frame[column] = frame[column].astype(object)
    frame.loc[1, column] = None
    with pytest.raises(DataError, match=column):
        prepare_bars(frame)


def test_vwap_may_be_missing_per_row() -> None:
    frame = bar_frame(n=3)
    frame.loc[1, "vwap"] = np.nan
    arrays = prepare_bars(frame)
    assert np.isnan(arrays.floats["vwap"]).tolist() == [False, True, False]


def test_time_accepts_aware_datetimes_and_rejects_naive_ones() -> None:
    frame = bar_frame(n=2)
    aware = frame.assign(time=pd.to_datetime(frame["time"], unit="ms", utc=True))
    assert prepare_bars(aware).time.tolist() == frame["time"].tolist()
    shanghai = aware.assign(time=aware["time"].dt.tz_convert("Asia/Shanghai"))
    assert prepare_bars(shanghai).time.tolist() == frame["time"].tolist()
    naive = aware.assign(time=aware["time"].dt.tz_localize(None))
    with pytest.raises(DataError, match="naive"):
        prepare_bars(naive)


def test_fractional_time_is_rejected() -> None:
    frame = bar_frame(n=2).astype({"time": float})
    frame.loc[0, "time"] = T0 + 0.5
    with pytest.raises(DataError, match="whole epoch milliseconds"):
        prepare_bars(frame)


def test_empty_frame() -> None:
    assert len(prepare_bars(pd.DataFrame(columns=list(BAR_COLUMNS)))) == 0


def test_keys_give_each_series_time_span() -> None:
    frame = pd.concat([bar_frame(["B", "A"], 4), bar_frame(["A"], 2, interval="5m")])
    keys = prepare_bars(frame).keys()
    assert sorted(keys) == [
        ("A", "1m", T0, T0 + 3 * 60_000),
        ("A", "5m", T0, T0 + 60_000),
        ("B", "1m", T0, T0 + 3 * 60_000),
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["AAPL", "TSLA", "茅台"]),
            st.sampled_from(["1m", "5m"]),
            st.integers(0, 20),
            st.floats(-1e6, 1e6),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_prepare_matches_last_row_wins_model(rows: list[tuple[str, str, int, float]]) -> None:
    frame = bar_frame(n=len(rows))
    frame["symbol"] = [r[0] for r in rows]
    frame["interval"] = [r[1] for r in rows]
    frame["time"] = [T0 + r[2] * 60_000 for r in rows]
    frame["open"] = [r[3] for r in rows]
    expected = model_of([frame])
    got = _rows(frame)
    assert [r[:3] for r in got] == sorted(expected)
    assert all(expected[r[:3]][3] == r[3] for r in got)
