"""The market tape an agent trades on: every price and rule outcome precomputed as arrays.

A :class:`Tape` is built once from a ``daily`` :class:`~quantdesk.models.datasets.Dataset`
(one row per stock and trading day, decision at the close). For the decision
of row ``i`` it holds what an order placed then would meet at the next row's
open, computed by the paper broker's own code, not a copy of it:

=============  ==================================================================
array          meaning
=============  ==================================================================
``obs``        the row's features (float32), the agent's view of the market
``close``      the row's close (the account is valued at it)
``buy_cents``  price of a market buy decided at row ``i``, in cents: the next
               open through :func:`~quantdesk.trading.brokers.paper.matching.bar_price`
               with the day's :meth:`~quantdesk.trading.market.MarketRules.price_band`;
               ``-1`` when it does not fill (board sealed at limit-up, or no next row)
``sell_cents`` the same for a market sell (``-1``: sealed at limit-down)
``fill_day``   ordinal of the trading day the order fills (stamp duty's date;
               T+1: shares bought that day are sellable from the next one)
``limit_up``   the row closed at its limit-up (``limit_down``: limit-down); known
               at the decision, shown to the agent
=============  ==================================================================

The next open is rebuilt from the dataset's ratios (``open = previous close x
(1 + gap)``, previous close ``= close / (1 + ret_1)``); a daily row has no
separate high and low, so an order fills at the open unless the open is at the
limit (a sealed board). Stocks are contiguous segments (``starts``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from quantdesk.domain.trading import OrderType, Side
from quantdesk.errors import ModelError
from quantdesk.models.datasets.base import Dataset
from quantdesk.trading.brokers.paper.matching import bar_price
from quantdesk.trading.market import MarketRules

__all__ = ["Tape", "build_tape"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]
#: Features are clipped to this magnitude (a volume spike must not dominate the network).
CLIP = 5.0


@dataclass(frozen=True, eq=False)
class Tape:
    """Precomputed arrays of one or more stocks; see the module docstring."""

    symbols: tuple[str, ...]
    starts: I64  # len(symbols) + 1 boundaries
    days: npt.NDArray[np.datetime64]
    obs: F32
    close: F64
    buy_cents: I64
    sell_cents: I64
    fill_day: I64
    limit_up: Bool
    limit_down: Bool
    features: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.close)

    def segment(self, k: int) -> tuple[int, int]:
        """Rows ``[start, end)`` of the ``k``-th stock."""
        return int(self.starts[k]), int(self.starts[k + 1])


def _cents(px: Decimal | None) -> int:
    return -1 if px is None else int(px * 100)


def build_tape(data: Dataset, rules: MarketRules, features: tuple[str, ...] = ()) -> Tape:
    """The tape of the selected rows of a ``daily`` data set under ``rules``."""
    if data.name != "daily":
        raise ModelError(
            f"reinforcement-learning agents trade the daily data set, not {data.name}"
            " (--dataset daily)"
        )
    if rules.tick != Decimal("0.01"):
        raise ModelError(f"the agents' tape keeps money in cents; tick {rules.tick} unsupported")
    rows = data.rows()
    if len(rows) < 3:
        raise ModelError(f"reinforcement learning needs at least 3 rows (got {len(rows)})")
    feats = tuple(features) or data.features
    cols = data.feature_index(feats)
    gap_j, ret_j = data.feature_index(["gap", "ret_1"])
    syms = data.symbols[rows]
    new = np.r_[True, syms[1:] != syms[:-1]]
    starts = np.r_[np.flatnonzero(new), len(rows)].astype(np.int64)
    close = data.reference[rows].astype(np.float64)
    prev_close = close / (1.0 + data.x[rows, ret_j])
    open_ = prev_close * (1.0 + data.x[rows, gap_j])
    days = data.days[rows]
    n = len(rows)
    buy = np.full(n, -1, dtype=np.int64)
    sell = np.full(n, -1, dtype=np.int64)
    fill_day = np.zeros(n, dtype=np.int64)
    up = np.zeros(n, dtype=bool)
    down = np.zeros(n, dtype=bool)
    rnd = rules.round_price
    for k in range(len(starts) - 1):
        a, b = int(starts[k]), int(starts[k + 1])
        sym = str(syms[a])
        for i in range(a, b):
            band = rules.price_band(sym, float(prev_close[i]))
            if band is not None:
                c = rnd(float(close[i]))
                up[i], down[i] = c >= band.high, c <= band.low
            if i + 1 >= b:
                continue
            o = float(open_[i + 1])
            nb = rules.price_band(sym, float(prev_close[i + 1]))
            buy[i] = _cents(bar_price(Side.BUY, OrderType.MARKET, None, o, o, o, rules, nb))
            sell[i] = _cents(bar_price(Side.SELL, OrderType.MARKET, None, o, o, o, rules, nb))
            fill_day[i] = days[i + 1].astype(dt.date).toordinal()
    obs = np.clip(
        np.nan_to_num(data.x[np.ix_(rows, np.asarray(cols, dtype=np.int64))]), -CLIP, CLIP
    ).astype(np.float32)
    return Tape(
        symbols=tuple(str(s) for s in syms[starts[:-1]]),
        starts=starts,
        days=days,
        obs=obs,
        close=close,
        buy_cents=buy,
        sell_cents=sell,
        fill_day=fill_day,
        limit_up=up,
        limit_down=down,
        features=feats,
    )
