"""The two controls every evaluation can run on: simulated data whose answer is known.

* ``random``: a pure random walk from the built-in simulator (regimes frozen in
  ``sideways``, so no drift either): there is nothing to predict, and a model
  whose direction accuracy lies outside 50 % +/- its interval is a probable
  leak.
* ``planted``: the same market plus a planted predictable component
  (:attr:`~quantdesk.sources.simulator.SimulatorParams.planted_beta`): each day
  opens ``beta`` x the previous morning's log return away from the previous
  close, so the next morning's return is ``beta`` x today's morning return +
  noise. A pipeline that can learn must find it.

Both use synthetic A-shares (``SIM000``, ``SIM001``, ... in 4 sectors, the
simulator's default co-movement) on the XSHG calendar.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from quantdesk.calendars.sessions import ExchangeCalendar, get_calendar
from quantdesk.domain.messages import StockMeta
from quantdesk.errors import ModelError
from quantdesk.models.datasets.base import Dataset

CONTROLS = ("random", "planted")
#: The planted signal's strength unless given.
DEFAULT_BETA = 0.5
FIRST_DAY = dt.date(2020, 1, 2)


def control_universe(n_stocks: int) -> list[StockMeta]:
    """``n_stocks`` synthetic A-shares (prices 8-80, volatility 20-40 %, 4 sectors)."""
    return [
        StockMeta(
            symbol=f"SIM{i:03d}",
            name=f"Simulated {i}",
            market="cn",
            sector=f"S{i % 4}",
            base_price=8.0 + (i * 7.3) % 72.0,
            volatility=0.20 + (i % 5) * 0.05,
            base_volume=100_000.0,
            calendar="XSHG",
        )
        for i in range(n_stocks)
    ]


def control_bars(
    kind: str, *, n_stocks: int = 20, n_days: int = 250, seed: int = 7, beta: float = DEFAULT_BETA
) -> tuple[pd.DataFrame, ExchangeCalendar]:
    """1-minute bars of the ``random`` or ``planted`` control, and their calendar."""
    from quantdesk.sources.simulator import SimulatorParams, generate_history

    if kind not in CONTROLS:
        raise ModelError(f"unknown control {kind!r}; known: {', '.join(CONTROLS)}")
    if n_stocks < 1 or n_days < 2:
        raise ModelError(f"a control needs >= 1 stock and >= 2 days (got {n_stocks}, {n_days})")
    cal = get_calendar("XSHG")
    days = cal.trading_days(FIRST_DAY, FIRST_DAY + dt.timedelta(days=3 * n_days))[:n_days]
    params = SimulatorParams(
        regime_switching=False, planted_beta=beta if kind == "planted" else 0.0
    )
    bars, _ = generate_history(control_universe(n_stocks), cal, days, seed, params=params)
    return bars, cal


def control_dataset(
    kind: str,
    dataset: str = "morning",
    *,
    n_stocks: int = 20,
    n_days: int = 250,
    seed: int = 7,
    beta: float = DEFAULT_BETA,
) -> Dataset:
    """The ``morning`` or ``daily`` data set of a control."""
    from quantdesk.bars import rollup_bars
    from quantdesk.models.datasets import build, check_name

    key = check_name(dataset)
    bars, cal = control_bars(kind, n_stocks=n_stocks, n_days=n_days, seed=seed, beta=beta)
    if key == "daily":
        bars = rollup_bars(bars, ["1d"], calendar=cal)
    return build(key, bars, cal)
