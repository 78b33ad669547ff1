"""One exception tree for quantdesk.

Every error a user can meet is a subclass of :class:`QuantdeskError`, and its
message is one line: what was wrong, with which value, and what to do::

    QuantdeskError
    ├── ConfigError            a setting is missing or invalid (names the setting)
    │   └── ScheduleError      a job schedule is not one of the allowed forms (names it)
    ├── DataError              input data is malformed (names the row / field)
    │   └── ImportFileError    a user's CSV/Parquet file was rejected (row number)
    ├── StorageError           the store cannot be reached or migrated
    ├── CalendarError          unknown exchange calendar or out-of-range date
    ├── DependencyError        an optional dependency is missing (says what to install)
    ├── NotFoundError          a symbol, interval or record does not exist
    ├── ModelRejectedError     a trained model lost to its baseline: not saved, never served
    ├── TradingError           an invalid trading operation (impossible fill, bad request)
    │   ├── OrderRejected      an order refused by the broker or the risk engine (``reason``)
    │   └── TradingUnavailable no trading account in this process (``quantdesk serve``)
    └── JobSkipped             a scheduled job cannot do its work now (a service it needs is
                               missing, nothing to act on): its run is recorded ``skipped``
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


class StorageError(QuantdeskError):
    """The store cannot be reached, migrated or written."""


class CalendarError(QuantdeskError):
    """Unknown exchange calendar, or a date the calendar cannot answer for."""


class DependencyError(QuantdeskError):
    """An optional dependency is missing; the message says what to install."""


class NotFoundError(QuantdeskError):
    """A symbol, interval or record does not exist."""


class TradingError(QuantdeskError):
    """A trading operation is invalid (an impossible fill, an unknown order, a bad request)."""


class OrderRejected(TradingError):
    """An order was refused; ``reason`` says why (stored with the order)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class TradingUnavailable(TradingError):
    """Nothing trades in this process (an API without ``quantdesk run``'s paper account)."""


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
