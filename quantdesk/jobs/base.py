"""The job interface: one class per job of seed B's trading day, registered by name.

A job is a small class with a default schedule and a ``run`` method. The
scheduler (:mod:`quantdesk.jobs.scheduler`) stores a run record *before*
calling ``run``, hands it a :class:`JobContext`, and stores how it ended:
``ok`` when ``run`` returns, ``skipped`` when it raises
:class:`~quantdesk.errors.JobSkipped` (the reason is stored: a service it needs
is not there, nothing to act on), ``failed`` on any other exception (the
one-line error is stored; the other jobs go on). What the job read and wrote
goes into ``ctx.inputs`` and ``ctx.outputs`` (ids, versions, counts: small JSON
documents), stored with the run whatever its end.

=======================  ========  =================================================
member                   required  meaning
=======================  ========  =================================================
``name``                 yes       registry key, the stored job name
``title``                yes       one line for ``quantdesk jobs list``
``schedule``             yes       default schedule (:mod:`quantdesk.jobs.schedule`
                                   forms), exchange-local time; a setting
                                   (``QUANTDESK_JOBS_SCHEDULES``) or an admin
                                   change overrides it
``run(ctx)``             yes       do the work; record ``ctx.inputs``/``ctx.outputs``
``schedule_us``          no        default schedule on the US market (else
                                   ``schedule``)
``trading_days``         no        fire only on trading days (default False;
                                   True for the daily jobs)
``order``                no        tie-break between jobs with the same fire time
                                   (lower first; default 100)
``retry_interrupted``    no        run again (next attempt, same fire time) when a
                                   run was interrupted by a dead process (default
                                   True; False for jobs that place orders)
``max_attempts``         no        attempts per fire time, retries included (2)
``misfire_grace_s``      no        how late a fire time missed while no scheduler
                                   ran may still start (default: the setting
                                   ``QUANTDESK_JOBS_MISFIRE_GRACE_SECONDS``)
``needed_at_start(env)``  no       for ``once`` jobs: a reason to run now, or None
=======================  ========  =================================================

Jobs must be safe to run again for the same day (a retry after a crash, a
manual run): they upsert on natural keys, never append blindly.
"""

from __future__ import annotations

import datetime as dt
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import sqlalchemy as sa

    from quantdesk.calendars import ExchangeCalendar
    from quantdesk.config import Settings
    from quantdesk.domain import StockMeta
    from quantdesk.storage.base import Store
    from quantdesk.storage.jobs import JobRepository

__all__ = ["Job", "JobContext", "JobEnvironment"]

log = logging.getLogger("quantdesk.jobs")


@dataclass
class JobEnvironment:
    """What every job of one scheduler shares: settings, the store, the market.

    ``services`` holds ready objects a runner hands over by name (``strategy``,
    ``broker``, ``predictor``, ``trainer``, ``model_versions``; see
    :mod:`quantdesk.jobs.services`); anything missing is looked up in its registry.
    """

    settings: Settings
    store: Store
    engine: sa.Engine
    market: str
    calendar: ExchangeCalendar
    services: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        settings: Settings,
        store: Store,
        *,
        market: str | None = None,
        engine: sa.Engine | None = None,
        services: Mapping[str, Any] | None = None,
    ) -> JobEnvironment:
        """The environment for ``store``: its SQLAlchemy engine (``store.engine`` when the
        store has one, else one on the same URL) and the market's calendar."""
        from quantdesk.calendars import get_calendar

        if engine is None:
            engine = getattr(store, "engine", None)
        if engine is None:
            from quantdesk.storage.sql import engine_for

            engine = engine_for(store.url)
        market = market or settings.market
        return cls(settings, store, engine, market, get_calendar(market), dict(services or {}))

    def universe(self) -> list[StockMeta]:
        """The market's stocks as stored (``stock_metadata``), else the configured universe."""
        stored = [m for m in self.store.list_metadata() if m.market == self.market]
        if stored:
            return stored
        from quantdesk.universe import universe_for

        return universe_for(self.settings, self.market)


@dataclass
class JobContext:
    """One run: when it was due, when it started, where to record what it did."""

    job: str
    run_id: int
    fire_ms: int
    now_ms: int
    trigger: str
    attempt: int
    env: JobEnvironment
    runs: JobRepository
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.env.settings

    @property
    def store(self) -> Store:
        return self.env.store

    @property
    def market(self) -> str:
        return self.env.market

    @property
    def calendar(self) -> ExchangeCalendar:
        return self.env.calendar

    @property
    def day(self) -> dt.date:
        """The exchange-local date of the fire time (the trading day a daily job serves)."""
        return self.env.calendar.date_of(self.fire_ms)

    def local(self, t_ms: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(t_ms / 1000, self.env.calendar.tz)


class Job(ABC):
    """One job of the trading day (see the module docstring for the members)."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    schedule: ClassVar[str] = ""
    schedule_us: ClassVar[str | None] = None
    trading_days: ClassVar[bool] = False
    order: ClassVar[int] = 100
    retry_interrupted: ClassVar[bool] = True
    max_attempts: ClassVar[int] = 2
    misfire_grace_s: ClassVar[float | None] = None

    @abstractmethod
    def run(self, ctx: JobContext) -> None:
        """Do the job's work, recording what it read and wrote in ``ctx``."""

    def needed_at_start(self, env: JobEnvironment, runs: JobRepository) -> str | None:
        """For ``once`` schedules: why this job must run now (None: it need not)."""
        return None

    @classmethod
    def default_schedule(cls, market: str) -> str:
        if market == "us" and cls.schedule_us:
            return cls.schedule_us
        return cls.schedule
