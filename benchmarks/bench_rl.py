"""RL environment: steps per second of the array tape beside a pandas-row environment.

Both environments do the same thing on the same data (the ``daily`` data set
of the random-walk control, 20 stocks x 500 days, A-share rules): at each step
the order decided at a close fills at the next open unless the board is sealed
at the limit (the paper broker's ``bar_price`` with the day's ``price_band``),
the same :class:`~quantdesk.models.rl.account.Account` pays the exact fees, and
the observation is the row's features plus the position state.

* ``TradingEnv`` (quantdesk): prices, limit flags and fill days precomputed
  once as arrays; a step reads Python lists.
* the baseline (below): a straightforward environment over a DataFrame that,
  at each step, reads the rows with ``iloc``, computes the band, the fill
  price and the observation from them.

The same seeded random actions run through both; their total rewards must be
equal (checked), so the figure compares equal work. Target: at least 20x.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from benchmarks._report import Figure, stopwatch
from quantdesk.domain.trading import OrderType, Side
from quantdesk.models.datasets.base import Dataset
from quantdesk.models.rl.account import Account
from quantdesk.trading.brokers.paper.matching import bar_price
from quantdesk.trading.market import MarketRules, rules_for

STOCKS = 20
DAYS = 500
EPISODE = 60


class PandasRowEnv:
    """The baseline: the same environment reading a DataFrame row by row."""

    def __init__(self, data: Dataset, rules: MarketRules, cash: float) -> None:
        self.frame = data.frame()
        f = self.frame
        f["close"] = data.reference[data.rows()]
        f["prev_close"] = f["close"] / (1.0 + f["ret_1"])
        f["open"] = f["prev_close"] * (1.0 + f["gap"])
        self.features = list(data.features)
        self.rules = rules
        self.cash_cents = round(cash * 100)
        self.account = Account(rules, self.cash_cents)
        self.i = self.end = 0
        self.eq = 0.0

    def reset(self, start: int, end: int) -> np.ndarray[Any, Any]:
        self.account = Account(self.rules, self.cash_cents)
        self.i, self.end = start, end
        self.eq = self.cash_cents / 100
        return self._obs()

    def _obs(self) -> np.ndarray[Any, Any]:
        row = self.frame.iloc[self.i]
        x = np.clip(np.nan_to_num(row[self.features].to_numpy(dtype=np.float64)), -5.0, 5.0)
        band = self.rules.price_band(str(row["symbol"]), float(row["prev_close"]))
        up = down = 0.0
        if band is not None:
            c = self.rules.round_price(float(row["close"]))
            up, down = float(c >= band.high), float(c <= band.low)
        acc = self.account
        held = 1.0 if acc.qty else 0.0
        day = pd.Timestamp(self.frame.iloc[self.i + 1]["day"]).date().toordinal()
        sellable = 1.0 if acc.can_sell(day) else 0.0
        ret = acc.qty * float(row["close"]) * 100 / acc.cost - 1.0 if acc.qty else 0.0
        return np.r_[x, held, sellable, ret, up, down].astype(np.float32)

    def step(self, action: int) -> tuple[np.ndarray[Any, Any], float, bool]:
        nxt = self.frame.iloc[self.i + 1]
        sym = str(nxt["symbol"])
        band = self.rules.price_band(sym, float(nxt["prev_close"]))
        o = float(nxt["open"])
        day = pd.Timestamp(nxt["day"]).date().toordinal()
        if action == 1:
            px = bar_price(Side.BUY, OrderType.MARKET, None, o, o, o, self.rules, band)
            if px is not None:
                self.account.buy(int(px * 100), day)
        elif action == 2:
            px = bar_price(Side.SELL, OrderType.MARKET, None, o, o, o, self.rules, band)
            if px is not None:
                self.account.sell(int(px * 100), day)
        self.i += 1
        eq = self.account.equity(float(nxt["close"]))
        reward = (eq - self.eq) * 100 / self.cash_cents
        self.eq = eq
        done = self.i >= self.end
        return (self._obs() if not done else np.zeros(0, np.float32)), reward, done


def _episodes(data: Dataset, n: int, seed: int) -> list[tuple[int, int, int]]:
    """``n`` (segment, start, end) episodes inside one stock each."""
    syms = data.symbols[data.rows()]
    starts = np.r_[np.flatnonzero(np.r_[True, syms[1:] != syms[:-1]]), len(syms)]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(len(starts) - 1))
        a, b = int(starts[k]), int(starts[k + 1])
        s = a + int(rng.integers(b - 1 - a - EPISODE))
        out.append((k, s, s + EPISODE))
    return out


def run(quick: bool) -> list[Figure]:
    from quantdesk.models.datasets.controls import control_dataset
    from quantdesk.models.rl.env import TradingEnv
    from quantdesk.models.rl.tape import build_tape

    data = control_dataset("random", "daily", n_stocks=STOCKS, n_days=DAYS, seed=11)
    rules = rules_for("cn")
    episodes = _episodes(data, 20 if quick else 100, seed=1)
    rng = np.random.default_rng(2)
    actions = rng.integers(3, size=(len(episodes), EPISODE)).tolist()
    cash = 1_000_000.0

    with stopwatch() as build:
        tape = build_tape(data, rules)
    env = TradingEnv(tape, rules, cash=cash)
    fast_reward = 0.0
    with stopwatch() as fast:
        for _round in range(20):
            for (_k, s, e), acts in zip(episodes, actions, strict=True):
                env.reset()
                env._i, env._end = s, e  # the same episode as the baseline's
                for a in acts:
                    _o, r, done, _t, _ = env.step(a)
                    fast_reward += r
                    if done:
                        break
    fast_steps = 20 * len(episodes) * EPISODE / fast()

    slow_env = PandasRowEnv(data, rules, cash)
    slow_reward = 0.0
    with stopwatch() as slow:
        for (_k, s, e), acts in zip(episodes, actions, strict=True):
            slow_env.reset(s, e)
            for a in acts:
                _o, r, done = slow_env.step(a)
                slow_reward += r
                if done:
                    break
    slow_steps = len(episodes) * EPISODE / slow()
    if not np.isclose(fast_reward, 20 * slow_reward, rtol=1e-9, atol=1e-12):
        raise AssertionError(f"the environments disagree: {fast_reward} vs 20 x {slow_reward}")
    print(f"  tape of {len(tape)} rows built in {build():.2f}s (once per data set)")
    print(f"  same total reward in both: {slow_reward:+.6f} per pass")
    return [
        Figure(
            "RL env steps/s (array tape vs pandas rows)",
            fast_steps,
            "steps/s",
            baseline=slow_steps,
            baseline_name="pandas-row env",
            target=20 * slow_steps,
        )
    ]
