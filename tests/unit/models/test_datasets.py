"""Data sets from bars: no look-ahead, seed B's morning, intervals, bad input."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quantdesk.bars import rollup_bars
from quantdesk.calendars.sessions import ExchangeCalendar, get_calendar
from quantdesk.errors import ModelError, NotFoundError
from quantdesk.models.datasets import build, load_dataset
from quantdesk.models.datasets.base import Dataset
from quantdesk.models.datasets.morning import build_morning, morning_cutoffs
from quantdesk.storage import open_store


def _scramble_after(bars: pd.DataFrame, t: int, length_ms: pd.Series, seed: int) -> pd.DataFrame:
    """Every bar not closed by ``t`` gets new random prices and volume."""
    out = bars.copy()
    later = (out["time"] + length_ms > t).to_numpy()
    rng = np.random.default_rng(seed)
    k = int(later.sum())
    scale = rng.uniform(0.5, 2.0, k)
    for col in ("open", "high", "low", "close", "vwap"):
        out.loc[later, col] = out.loc[later, col].to_numpy() * scale
    out.loc[later, "volume"] = rng.integers(1, 10**7, k).astype(float)
    return out


def _row_features(data: Dataset, t: int) -> pd.DataFrame:
    """Features of every row decided at or before ``t``."""
    keep = data.decision_time <= t
    frame = pd.DataFrame(data.x[keep], columns=list(data.features))
    frame.insert(0, "symbol", data.symbols[keep])
    frame.insert(1, "day", data.days[keep])
    return frame.reset_index(drop=True)


@pytest.mark.parametrize("name", ["morning", "daily"])
def test_no_look_ahead(name: str, planted_bars: tuple[pd.DataFrame, ExchangeCalendar]) -> None:
    bars, cal = planted_bars
    if name == "daily":
        bars = rollup_bars(bars, ["1d"], calendar=cal)
        length = pd.Series(0, index=bars.index)
        # a daily bar is closed at its day's end
        length = pd.Series(86_400_000 - 1, index=bars.index)
    else:
        length = pd.Series(60_000, index=bars.index)
    base = build(name, bars, cal)
    times = np.unique(base.decision_time)
    for t in (times[len(times) // 3], times[2 * len(times) // 3], times[-2]):
        changed = build(name, _scramble_after(bars, int(t), length, seed=int(t) % 1000), cal)
        before = _row_features(base, int(t))
        after = _row_features(changed, int(t))
        assert len(before) > 0
        pd.testing.assert_frame_equal(before, after)
        # and the scrambling did change something later on
        assert not np.allclose(base.x[-1], changed.x[-1])


def test_morning_is_seed_b(planted_bars: tuple[pd.DataFrame, ExchangeCalendar]) -> None:
    bars, cal = planted_bars
    data = build_morning(bars, cal)
    sym = "SIM002"
    one = bars[bars["symbol"] == sym].sort_values("time")
    day = data.days[data.symbols == sym][3]
    local = pd.to_datetime(one["time"], unit="ms", utc=True).dt.tz_convert("Asia/Shanghai")
    today = one[local.dt.date == day.astype(dt.date)]
    prev = one[local.dt.date < day.astype(dt.date)]
    am = today[
        pd.to_datetime(today["time"], unit="ms", utc=True).dt.tz_convert("Asia/Shanghai").dt.hour
        < 12
    ]
    nxt = one[local.dt.date > day.astype(dt.date)]
    nxt_day = pd.to_datetime(nxt["time"], unit="ms", utc=True).dt.tz_convert("Asia/Shanghai")
    nxt_am = nxt[(nxt_day.dt.date == nxt_day.dt.date.iloc[0]) & (nxt_day.dt.hour < 12)]
    assert len(am) == 120 and len(nxt_am) == 120
    row = np.flatnonzero((data.symbols == sym) & (data.days == day))[0]
    f = dict(zip(data.features, data.x[row], strict=True))
    y = dict(zip(data.targets, data.y[row], strict=True))
    prev_close = prev["close"].iloc[-1]
    assert f["open_ratio"] == pytest.approx(am["open"].iloc[0] / prev_close - 1)
    assert f["close_ratio"] == pytest.approx(am["close"].iloc[-1] / prev_close - 1)
    assert y["next_open"] == pytest.approx(nxt_am["open"].iloc[0] / am["close"].iloc[-1] - 1)
    assert y["next_close"] == pytest.approx(nxt_am["close"].iloc[-1] / am["close"].iloc[-1] - 1)
    # decision time is 11:30 Shanghai: the end of the morning session
    decided = pd.Timestamp(int(data.decision_time[row]), unit="ms", tz="UTC").tz_convert(
        "Asia/Shanghai"
    )
    assert (decided.hour, decided.minute) == (11, 30)
    # the newest day has no target yet
    last = np.flatnonzero(data.symbols == sym)[-1]
    assert np.isnan(data.y[last]).all()


def test_morning_from_120m_bars_matches_1m(
    planted_bars: tuple[pd.DataFrame, ExchangeCalendar],
) -> None:
    bars, cal = planted_bars
    two_hour = rollup_bars(bars, ["120m"], calendar=cal)
    a = build_morning(bars, cal)
    b = build_morning(two_hour, cal)
    cols = [a.features.index(f) for f in ("open_ratio", "close_ratio", "am_open_chg")]
    np.testing.assert_allclose(a.x[:, cols], b.x[:, cols], rtol=1e-12)
    np.testing.assert_allclose(a.y, b.y, rtol=1e-12)


def test_us_morning_is_the_first_half_of_the_session() -> None:
    cal = get_calendar("XNYS")
    cut = morning_cutoffs(cal)
    i = cal.days.index(dt.date(2024, 3, 5))
    local = pd.Timestamp(int(cut[i]), unit="ms", tz="UTC").tz_convert("America/New_York")
    assert (local.hour, local.minute) == (12, 45)
    xshg = get_calendar("XSHG")
    j = xshg.days.index(dt.date(2024, 3, 5))
    local = pd.Timestamp(int(morning_cutoffs(xshg)[j]), unit="ms", tz="UTC").tz_convert(
        "Asia/Shanghai"
    )
    assert (local.hour, local.minute) == (11, 30)


def test_planted_signal_is_there(small_morning: Dataset) -> None:
    f = small_morning.frame().dropna()
    am_return = np.log1p(f["close_ratio"]) - np.log1p(f["open_ratio"])
    assert np.corrcoef(am_return, f["next_open"])[0, 1] > 0.3


def test_daily_features_and_target(small_daily: Dataset) -> None:
    data = small_daily
    assert np.isfinite(data.x).all()
    f = data.frame()
    one = f[f["symbol"] == "SIM001"].reset_index(drop=True)
    # next_return of a day is the following day's ret_1
    np.testing.assert_allclose(one["next_return"].iloc[:-1], one["ret_1"].iloc[1:], rtol=1e-12)


def test_load_dataset_bad_input(tmp_path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'q.db'}") as store:
        with pytest.raises(NotFoundError, match="no stocks"):
            load_dataset(store, "morning")
        with pytest.raises(NotFoundError, match="NOPE has no 1m or 120m bars"):
            load_dataset(store, "morning", symbols=["NOPE"])
        with pytest.raises(ModelError, match="unknown dataset 'weekly'"):
            load_dataset(store, "weekly", symbols=["NOPE"])


def test_load_dataset_from_store_and_empty_range(
    tmp_path, planted_bars: tuple[pd.DataFrame, ExchangeCalendar]
) -> None:
    bars, cal = planted_bars
    with open_store(f"sqlite:///{tmp_path / 'q.db'}") as store:
        store.upsert_bars(bars[bars["symbol"].isin(["SIM000", "SIM001"])])
        data = load_dataset(store, "morning", symbols=["SIM000", "SIM001"], market="cn")
        direct = build_morning(bars[bars["symbol"].isin(["SIM000", "SIM001"])], cal)
        np.testing.assert_allclose(data.x, direct.x)
        with pytest.raises(NotFoundError, match="no 1m or 120m bars in the store from 2030"):
            load_dataset(
                store, "morning", symbols=["SIM000"], start=dt.date(2030, 1, 1), market="cn"
            )
        with pytest.raises(ModelError, match="no rows"):
            # bars exist, but the one day is too short for a row (no previous day)
            load_dataset(
                store,
                "morning",
                symbols=["SIM000"],
                start=dt.date(2020, 1, 2),
                end=dt.date(2020, 1, 2),
                market="cn",
            )
