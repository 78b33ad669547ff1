"""Helpers shared by the simulator tests."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quantdesk.calendars import ExchangeCalendar, get_calendar
from quantdesk.domain import StockMeta


def make_universe(
    n: int,
    *,
    market: str = "cn",
    price: float = 10_000.0,
    volatility: float = 0.2,
    base_volume: float = 100_000.0,
    sectors: int = 1,
) -> list[StockMeta]:
    """``n`` synthetic stocks spread round-robin over ``sectors`` sectors."""
    cal = "XSHG" if market == "cn" else "XNYS"
    return [
        StockMeta(
            symbol=f"S{i:03d}",
            name=f"Stock {i}",
            market=market,
            sector=f"sector{i % sectors}",
            base_price=price,
            volatility=volatility,
            base_volume=base_volume,
            calendar=cal,
        )
        for i in range(n)
    ]


def wide(df: pd.DataFrame, column: str) -> np.ndarray:
    """A (minutes, symbols) array of one bar column (history rows are time-major)."""
    n_sym = df["symbol"].nunique()
    return df[column].to_numpy().reshape(-1, n_sym)


@pytest.fixture(scope="session")
def xshg() -> ExchangeCalendar:
    return get_calendar("XSHG")


@pytest.fixture(scope="session")
def xnys() -> ExchangeCalendar:
    return get_calendar("XNYS")


def year_2023(cal: ExchangeCalendar) -> list[dt.date]:
    return cal.trading_days(dt.date(2023, 1, 1), dt.date(2023, 12, 31))
