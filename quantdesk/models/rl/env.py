"""The trading environment (gymnasium): hold, buy or sell one stock at each daily close.

Each step is one decision at a row's close of a :class:`~.tape.Tape`; the order
fills at the next row's open (the tape's precomputed price, or not at all when
the board is sealed at the limit), the account is valued at the next close,
and the reward is the change in equity net of costs, as a fraction of the
starting cash. Actions: ``0`` hold, ``1`` buy (all the cash, whole lots), ``2``
sell (the whole position, when T+1 allows). A buy while holding and a sell
while flat are holds.

The observation is the row's features followed by five numbers: holding (0/1),
sellable now (0/1, T+1), the position's return on its cost (at most 5), and whether the
row closed at limit-up / limit-down.

An episode is ``episode_days`` decisions of one stock, both drawn with the
environment's seeded generator; ``reset(options={"segment": k})`` runs the
``k``-th stock from its first row to its last instead (evaluation). A step
reads Python lists, never a DataFrame: see ``benchmarks/bench_rl.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quantdesk.models.rl.account import Account
from quantdesk.models.rl.deps import missing
from quantdesk.models.rl.tape import CLIP, F32, Tape
from quantdesk.trading.market import MarketRules

try:
    import gymnasium as gym
except ImportError:
    raise missing("gymnasium") from None

__all__ = ["BUY", "EXTRA", "HOLD", "SELL", "TradingEnv"]

HOLD, BUY, SELL = 0, 1, 2
#: Numbers appended to the features: holding, sellable, position return, limit-up, limit-down.
EXTRA = 5


class TradingEnv(gym.Env[F32, np.int64]):
    """One stock at a time from ``tape``, under ``rules``; see the module docstring."""

    def __init__(
        self,
        tape: Tape,
        rules: MarketRules,
        *,
        cash: float = 1_000_000.0,
        episode_days: int = 60,
    ) -> None:
        super().__init__()
        self.tape = tape
        self.rules = rules
        self.cash_cents = round(cash * 100)
        self.episode_days = max(1, int(episode_days))
        k = tape.obs.shape[1]
        base = np.zeros((len(tape), k + EXTRA), dtype=np.float32)
        base[:, :k] = tape.obs
        base[:, k + 3] = tape.limit_up
        base[:, k + 4] = tape.limit_down
        self._base = base
        self._k = k
        self._close = tape.close.tolist()
        self._buy = tape.buy_cents.tolist()
        self._sell = tape.sell_cents.tolist()
        self._day = tape.fill_day.tolist()
        lengths = np.diff(tape.starts)
        self._segments = np.flatnonzero(lengths >= 2)
        self.observation_space = gym.spaces.Box(-CLIP, CLIP, (k + EXTRA,), np.float32)
        self.action_space = gym.spaces.Discrete(3)
        self.account = Account(rules, self.cash_cents)
        self._i = self._end = 0
        self._eq = 0.0
        self.equity: list[float] = []

    def _obs(self) -> F32:
        i, acc, k = self._i, self.account, self._k
        o = self._base[i].copy()
        if acc.qty:
            o[k] = 1.0
            o[k + 1] = 1.0 if acc.can_sell(self._day[i]) else 0.0
            o[k + 2] = min(CLIP, acc.qty * self._close[i] * 100 / acc.cost - 1.0)
        return o

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[F32, dict[str, Any]]:
        super().reset(seed=seed)
        opts = options or {}
        if not len(self._segments):
            raise ValueError("the tape has no stock with two rows")
        if "segment" in opts:
            a, b = self.tape.segment(int(opts["segment"]))
            start, end = a, b - 1
        else:
            rng = self.np_random
            a, b = self.tape.segment(int(self._segments[rng.integers(len(self._segments))]))
            room = b - 1 - a - self.episode_days
            start = a + int(rng.integers(room + 1)) if room > 0 else a
            end = min(b - 1, start + self.episode_days)
        self.account = Account(self.rules, self.cash_cents)
        self._i, self._end = start, end
        self._eq = self.cash_cents / 100
        self.equity = [self._eq]
        return self._obs(), {}

    def step(self, action: Any) -> tuple[F32, float, bool, bool, dict[str, Any]]:
        i, acc = self._i, self.account
        a = int(action)
        if a == BUY:
            acc.buy(self._buy[i], self._day[i])
        elif a == SELL:
            acc.sell(self._sell[i], self._day[i])
        i += 1
        self._i = i
        eq = acc.equity(self._close[i])
        reward = (eq - self._eq) * 100 / self.cash_cents
        self._eq = eq
        self.equity.append(eq)
        return self._obs(), reward, i >= self._end, False, {}
