"""Exchange sessions and holidays (wraps ``exchange-calendars``)."""

from quantdesk.calendars.sessions import (
    AUCTION_MS,
    DAY_MS,
    MARKET_CALENDARS,
    ExchangeCalendar,
    get_calendar,
)

__all__ = ["AUCTION_MS", "DAY_MS", "MARKET_CALENDARS", "ExchangeCalendar", "get_calendar"]
