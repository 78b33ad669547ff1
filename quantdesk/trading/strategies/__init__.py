"""Strategies by name (``QUANTDESK_STRATEGY``); see :mod:`.base` for the interface.

================  ============================================================
name              strategy
================  ============================================================
``t1``            seed B: sell every sellable position in the morning, buy the
                  top-k predicted gains in the afternoon
``signals``       trade the factor signal rules' buy and sell signals
``buy_and_hold``  the benchmark: equal weights once, then hold
``ma_cross``      a moving-average cross per symbol
``momentum``      daily cross-sectional: hold the top-k by past return
``rl``            a trained reinforcement-learning agent (``ppo``, ``dqn``) per
                  symbol: hold, buy or sell at each daily close
================  ============================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quantdesk.plugins import Registry
from quantdesk.trading.strategies.base import Portfolio, StepContext, Strategy
from quantdesk.trading.strategies.predictions import (
    FramePredictions,
    PredictionSet,
    PredictionSource,
)

if TYPE_CHECKING:
    from quantdesk.config.settings import Settings

__all__ = [
    "STRATEGIES",
    "FramePredictions",
    "Portfolio",
    "PredictionSet",
    "PredictionSource",
    "StepContext",
    "Strategy",
    "make_strategy",
]

STRATEGIES: Registry[type[Strategy]] = Registry("strategy", "QUANTDESK_STRATEGY")
STRATEGIES.register("t1", "quantdesk.trading.strategies.t1:T1Strategy")
STRATEGIES.register("signals", "quantdesk.trading.strategies.signals:SignalStrategy")
STRATEGIES.register("buy_and_hold", "quantdesk.trading.strategies.buy_and_hold:BuyAndHold")
STRATEGIES.register("ma_cross", "quantdesk.trading.strategies.ma_cross:MovingAverageCross")
STRATEGIES.register("momentum", "quantdesk.trading.strategies.momentum:Momentum")
STRATEGIES.register("rl", "quantdesk.trading.strategies.rl:RLStrategy")


def make_strategy(name: str, settings: Settings | None = None, **params: Any) -> Strategy:
    """A strategy by name; the built-in ones take their parameters from ``settings``."""
    cls = STRATEGIES.get(name)
    key = STRATEGIES.check(name)
    if settings is not None:
        defaults: dict[str, Any] = {}
        if key == "t1":
            defaults = {
                "sell_time": settings.t1_sell_time,
                "buy_time": settings.t1_buy_time,
                "top_k": settings.t1_top_k,
                "min_gain": settings.t1_min_gain,
            }
        elif key == "signals":
            defaults = {"order_value": float(settings.signals_order_value)}
        elif key == "rl" and "agent" not in params:
            defaults = {"model": settings.rl_agent}
        params = {**defaults, **params}
    return cls(**params)
