"""One exception tree for quantdesk.

Every error a user can meet is a subclass of :class:`QuantdeskError`, and its
message is one line: what was wrong, with which value, and what to do::

    QuantdeskError
    ├── ConfigError            a setting is missing or invalid (names the setting)
    │   └── ScheduleError      a job schedule is not one of the allowed forms (names it)
    ├── DataError              input data is malformed (names the row / field)
    │   ├── ImportFileError    a user's CSV/Parquet file was rejected (row number)
    │   ├── MessageError       a bus payload is not a valid message (``reason``)
    │   ├── BookError          an order-book snapshot cannot be used (``reason``)
    │   ├── TweetError         one tweet was rejected (``reason``)
    │   ├── CandleFormatError  a Finnhub ``/stock/candle`` answer of the wrong shape
    │   ├── CheckpointError    a stored checkpoint does not fit this run (ignored)
    │   └── HistoryConflictError  a backfill would rewrite stored bars (names --clear)
    ├── StorageError           the store cannot be reached or migrated
    ├── CalendarError          unknown exchange calendar or out-of-range date
    ├── DependencyError        an optional dependency is missing (says what to install)
    ├── NotFoundError          a symbol, interval or record does not exist
    │   └── NoHistoryError     no history provider could answer (``attempts``)
    ├── BusError               the bus cannot be reached, or delivery/commit failed
    │   └── BusFullError       a partition stayed full past the publish timeout
    ├── ProviderError          one history provider could not answer (``reason``)
    ├── CandleFetchError       a Finnhub candle request failed (``retry_after``)
    ├── TokenError             an API token is missing, malformed, expired or forged
    ├── ModelRejectedError     a trained model lost to its baseline: not saved, never served
    ├── TradingError           an invalid trading operation (impossible fill, bad request)
    │   └── OrderRejected      an order refused by the broker or the risk engine (``reason``)
    ├── JobSkipped             a scheduled job cannot do its work now (a service it needs is
    │                          missing, nothing to act on): its run is recorded ``skipped``
    └── ModelError             a model cannot be trained, loaded or used (corrupt
                               artifact, too little data, unsupported operation)

Classes are importable from here and, where they were public before, from the
module that raises them (``quantdesk.bus.BusError``, ``quantdesk.auth.TokenError``,
...).
"""

from __future__ import annotations


class QuantdeskError(Exception):
    """Base class of every error raised on purpose by quantdesk."""


class ConfigError(QuantdeskError):
    """A configuration setting is missing or invalid."""


class DataError(QuantdeskError):
    """Input data is malformed."""


class ImportFileError(DataError):
    """A user's OHLCV file was rejected; nothing from it was stored."""


class MessageError(DataError):
    """A payload on the bus is not a valid message.

    ``reason`` is one of :data:`quantdesk.bus.codec.REASONS`; ``field`` names the
    offending field when there is one; ``raw`` is the payload as received.
    """

    def __init__(self, reason: str, detail: str, *, field: str | None = None, raw: bytes = b""):
        self.reason = reason
        self.field = field
        self.raw = raw
        super().__init__(f"{reason}: {detail}")


class BookError(DataError):
    """A book snapshot cannot be used; ``reason`` is one of
    :data:`quantdesk.stream.factors.BOOK_ERROR_REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class TweetError(DataError):
    """One tweet was rejected; ``reason`` is a short key from
    :data:`quantdesk.sentiment.tweets.REJECT_REASONS`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"tweet rejected ({reason}){': ' + detail if detail else ''}")
        self.reason = reason


class CandleFormatError(DataError):
    """A ``/stock/candle`` answer that is not of the documented shape."""


class CheckpointError(DataError):
    """A stored checkpoint does not fit this run (another universe, seed or store state);
    the run starts without it."""


class HistoryConflictError(DataError):
    """A backfill would replace stored bars with a different history; nothing was written."""


class StorageError(QuantdeskError):
    """The store cannot be reached, migrated or written."""


class CalendarError(QuantdeskError):
    """Unknown exchange calendar, or a date the calendar cannot answer for."""


class DependencyError(QuantdeskError):
    """An optional dependency is missing; the message says what to install."""


class NotFoundError(QuantdeskError):
    """A symbol, interval or record does not exist."""


class NoHistoryError(NotFoundError):
    """No provider could answer; ``attempts`` holds (provider, reason) pairs."""

    def __init__(self, symbol: str, interval: str, attempts: list[tuple[str, str]]) -> None:
        self.attempts = attempts
        why = "; ".join(f"{p}: {r}" for p, r in attempts) or "no provider configured"
        super().__init__(f"no history for {symbol} {interval} from any source ({why})")


class BusError(QuantdeskError):
    """The bus cannot be reached, or a message could not be delivered or committed."""


class BusFullError(BusError):
    """A partition stayed full for longer than the publish timeout (back-pressure)."""


class ProviderError(QuantdeskError):
    """A provider could not answer: ``reason`` is one line (timeout, HTTP 429, ...)."""

    def __init__(self, provider: str, reason: str) -> None:
        self.provider = provider
        self.reason = reason
        super().__init__(f"{provider}: {reason}")


class CandleFetchError(QuantdeskError):
    """A candle request failed; ``retry_after`` (s) is set when the server said when to retry."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        #: 401/403: this token cannot read candles (e.g. a plan without them); do not retry
        self.permanent = permanent


class TokenError(QuantdeskError):
    """A token that is missing, malformed, expired or wrongly signed."""


class TradingError(QuantdeskError):
    """A trading operation is invalid (an impossible fill, an unknown order, a bad request)."""


class OrderRejected(TradingError):
    """An order was refused; ``reason`` says why (stored with the order)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ScheduleError(ConfigError):
    """A job schedule is invalid: bad cron expression, bad interval, or a form not allowed."""


class JobSkipped(QuantdeskError):
    """Raised by a job that cannot do its work now; the run is stored as ``skipped`` with
    this one-line reason (never as a fake result)."""


class ModelRejectedError(QuantdeskError):
    """A trained model scored below its baseline on the evaluation set; it was not promoted.

    ``report`` (when set) holds the evaluation table that decided it.
    """

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class ModelError(QuantdeskError):
    """A model cannot be trained, loaded or used: corrupt artifact, too little data, ..."""
