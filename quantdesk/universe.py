"""Which stocks the platform covers: the simulator's preset universe or a user's file."""

from __future__ import annotations

from quantdesk.config import Settings
from quantdesk.domain import StockMeta
from quantdesk.sources.simulator import default_universe, load_universe


def universe_for(settings: Settings, market: str | None = None) -> list[StockMeta]:
    """The universe of ``market`` (default: the configured one).

    ``QUANTDESK_UNIVERSE_FILE`` (CSV or TOML, see the README) replaces the
    preset universe; only its rows of the requested market are used.
    """
    market = market or settings.market
    if settings.universe_file is not None:
        return [m for m in load_universe(settings.universe_file) if m.market == market]
    return default_universe(market)
