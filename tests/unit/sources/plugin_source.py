"""A live source that lives outside the quantdesk package (registered by tests)."""

from __future__ import annotations

from typing import Any

from quantdesk.domain import StockMeta, Trade
from quantdesk.sources.base import LiveSource, SourceContext


class TickerSource(LiveSource):
    """One trade of 100 shares of TICK every second of event time, at 10.00 + (s % 7) / 100."""

    name = "ticker"
    origin = "ticker"

    def __init__(self, market: str) -> None:
        self.market = market
        self.universe = [StockMeta("TICK", "Ticker", market, "test", 10.0, 0.2, 100.0, "XNYS")]
        self.calendar = None
        self._next = 0

    @classmethod
    def open(cls, arg: str, ctx: SourceContext) -> TickerSource:
        return cls(ctx.market)

    def describe(self) -> str:
        return "one trade a second"

    def start(self, at: int) -> None:
        self._next = -(-at // 1000) * 1000

    def step(self, until: int) -> list[Trade]:
        out = []
        while self._next < until:
            s = self._next // 1000
            out.append(Trade("TICK", self._next, 10.0 + (s % 7) / 100, 100.0, f"t{s}", "ticker"))
            self._next += 1000
        return out

    def snapshot(self) -> dict[str, Any]:
        return {"next": self._next}

    def restore(self, state: dict[str, Any]) -> None:
        self._next = int(state["next"])
