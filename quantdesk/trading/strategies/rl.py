"""``rl``: a trained reinforcement-learning agent trades each symbol (paper or backtest).

At each daily close the strategy computes, per symbol, the agent's observation
exactly as the training environment does (:mod:`quantdesk.models.rl.env`):
the ``daily`` data set's features of the day from the bar history
(:mod:`quantdesk.models.datasets.daily`), then holding, sellable now (T+1),
the position's return on its cost and the limit-up / limit-down flags. The
agent answers hold, buy or sell: a buy spends ``equity / number of symbols``
(fixed at the first step) in whole lots on a symbol not held, a sell sells the
sellable shares. Orders go through the risk engine and the broker like any
strategy's.

The agent is a model registry version: ``model`` (``ppo`` or ``dqn``) at
``ref`` (an alias or a version number; default the champion, else the newest version), loaded on the
first step from the configured database and model directory; or pass
``agent`` (a trained :class:`~quantdesk.models.rl.agents.RLAgent`) directly.
Needs the ``ml`` extra (one line naming ``pip install 'quantdesk[ml]'`` without it).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from quantdesk.domain.trading import Side
from quantdesk.errors import ConfigError
from quantdesk.trading.orders import OrderRequest
from quantdesk.trading.strategies.base import StepContext, Strategy
from quantdesk.trading.strategies.sizing import lots_for_value

__all__ = ["RLStrategy"]

#: Daily bars the features need (the longest indicator warm-up is about 35 days).
WINDOW = 60


class RLStrategy(Strategy):
    name = "rl"
    interval = "1d"
    warmup = 36

    def __init__(self, model: str = "ppo", ref: str | int | None = None, agent: Any = None) -> None:
        if model not in ("ppo", "dqn"):
            raise ConfigError(f"rl: model must be ppo or dqn (got {model!r})")
        self.model = model
        self.ref = ref
        self._agent = agent
        self._slot: float | None = None

    def agent(self) -> Any:
        """The trained agent (loaded from the registry on first use)."""
        if self._agent is None:
            from quantdesk.config import load_settings
            from quantdesk.models.registry import ModelRegistry
            from quantdesk.storage.sql import engine_for

            s = load_settings()
            registry = ModelRegistry(engine_for(s.resolved_database_url), s.resolved_model_dir)
            self._agent, _row = registry.load(self.model, self.ref)
        return self._agent

    def observations(self, ctx: StepContext) -> tuple[np.ndarray[Any, Any], list[int]]:
        """The agents' observations of the symbols that have one now, and their indices."""
        from quantdesk.models.datasets.daily import _one
        from quantdesk.models.rl.env import EXTRA
        from quantdesk.models.rl.tape import CLIP

        agent = self.agent()
        h, rules = ctx.history, ctx.rules
        times = h.times[-WINDOW:]
        cols = {f: h.window(f, WINDOW) for f in ("open", "high", "low", "close", "volume")}
        tz = str(rules.calendar.tz)
        rows, index = [], []
        for j, sym in enumerate(ctx.symbols):
            ok = ~np.isnan(cols["close"][:, j])
            if ok.sum() < self.warmup:
                continue
            bars = pd.DataFrame({"time": times[ok], **{f: v[ok, j] for f, v in cols.items()}})
            row = _one(sym, bars, tz).iloc[-1]
            feats = row[list(agent.features)].to_numpy(dtype=np.float64)
            if not np.isfinite(feats).all():
                continue
            close = float(row["reference"])
            obs = np.zeros(len(feats) + EXTRA, dtype=np.float32)
            obs[: len(feats)] = np.clip(feats, -CLIP, CLIP)
            qty = ctx.portfolio.quantity(sym)
            k = len(feats)
            if qty:
                obs[k] = 1.0
                obs[k + 1] = 1.0 if ctx.portfolio.sellable(sym, ctx.day) > 0 else 0.0
                cost = ctx.portfolio.cost(sym)
                obs[k + 2] = min(CLIP, qty * close / cost - 1.0) if cost > 0 else 0.0
            band = rules.price_band(sym, close / (1.0 + float(row["ret_1"])))
            if band is not None:
                c = rules.round_price(close)
                obs[k + 3], obs[k + 4] = float(c >= band.high), float(c <= band.low)
            rows.append(obs)
            index.append(j)
        return np.asarray(rows, dtype=np.float32), index

    def on_step(self, ctx: StepContext) -> list[OrderRequest]:
        if self._slot is None:
            self._slot = ctx.portfolio.equity / max(1, len(ctx.symbols))
        obs, index = self.observations(ctx)
        if not index:
            return []
        actions = self.agent().act(obs)
        close = ctx.history.latest("close")
        out = []
        for j, action in zip(index, actions.tolist(), strict=True):
            sym = ctx.symbols[j]
            if action == 1 and ctx.portfolio.quantity(sym) == 0:
                px = float(close[j])
                q = lots_for_value(self._slot, px, ctx.rules) if not math.isnan(px) else 0
                if q > 0:
                    out.append(OrderRequest(sym, Side.BUY, q))
            elif action == 2:
                q = ctx.portfolio.sellable(sym, ctx.day)
                if q > 0:
                    out.append(OrderRequest(sym, Side.SELL, q))
        return out
