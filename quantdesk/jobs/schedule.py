"""Schedules: the three allowed forms, parsed once, fired on exchange-local time.

=======================  ==============================================================
form                     meaning
=======================  ==============================================================
``cron:M H DOM MON DOW``  a standard 5-field crontab line in the exchange's time zone
                          (``cron:35 9 * * *``; day of week ``0``/``7`` = Sunday as in
                          cron, or names ``mon-fri``). Restrict the day of month *or*
                          the day of week, not both (cron ORs them; we refuse rather
                          than guess).
``every:<N><unit>[@HH:MM]``  every N minutes (``m``), hours (``h``), days (``d``) or
                          weeks (``w``), counted from Monday 2000-01-03 at ``HH:MM``
                          exchange time (default 00:00), so the fire times never
                          depend on when the schedule was stored (``every:3d@08:30``).
``once``                  only for a job that says when it is needed (``init``): it
                          fires when its scheduler starts and the job asks for it.
=======================  ==============================================================

A schedule marked *trading days* only fires on a trading day of the market's
calendar (:mod:`quantdesk.calendars`): a fire time on a weekend or holiday is
passed over. The triggers are APScheduler 3.x's :class:`CronTrigger` and
:class:`IntervalTrigger` (``get_next_fire_time``); our dispatcher
(:mod:`quantdesk.jobs.scheduler`) decides when to ask them, on the exchange clock.

Two APScheduler 3.x pitfalls are handled here: its numeric day of week counts
from Monday = 0 (cron counts from Sunday = 0), so numbers are translated to day
names; and it ANDs day of month and day of week where cron ORs them, so a
schedule restricting both is refused.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Final, Literal

from quantdesk.calendars import ExchangeCalendar
from quantdesk.errors import ScheduleError

__all__ = ["FORMS", "Schedule", "is_trading_day", "parse_schedule"]

FORMS: Final = "cron:M H DOM MON DOW, every:<N><m|h|d|w>[@HH:MM] or once"
_ANCHOR_DAY: Final = dt.date(2000, 1, 3)  # a Monday
_CRON_DAYS: Final = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NAMES: Final = frozenset(_CRON_DAYS)
_EVERY = re.compile(r"^(\d+)\s*([mhdw])(?:\s*@\s*(\d{1,2}):(\d{2}))?$")
_UNITS: Final = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_MAX_EVERY_MINUTES: Final = 366 * 24 * 60
_MAX_SCAN: Final = 800


def is_trading_day(calendar: ExchangeCalendar, day: dt.date) -> bool:
    """Whether the exchange trades on ``day`` (its local date)."""
    i = bisect.bisect_left(calendar.days, day)
    return i < len(calendar.days) and calendar.days[i] == day


@dataclass(frozen=True)
class Schedule:
    """A parsed, valid schedule of one job on one exchange calendar."""

    spec: str
    kind: Literal["cron", "every", "once"]
    trading_days: bool
    calendar: ExchangeCalendar
    trigger: Any = None  # an APScheduler trigger (None for ``once``)

    def next_fire(self, after_ms: int) -> int | None:
        """The first fire time strictly after ``after_ms`` (epoch ms UTC), or None."""
        if self.trigger is None:
            return None
        tz = self.calendar.tz
        t = after_ms
        for _ in range(_MAX_SCAN):
            start = dt.datetime.fromtimestamp((t + 1) / 1000, tz)
            nxt = self.trigger.get_next_fire_time(None, start)
            if nxt is None:
                return None
            fire = int(nxt.timestamp() * 1000)
            if fire <= t:  # pragma: no cover - defensive: triggers never go backwards
                fire = t + 1
            local = nxt.astimezone(tz)
            if not self.trading_days or is_trading_day(self.calendar, local.date()):
                return fire
            # skip the rest of a closed day at once
            midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tz)
            t = max(fire, int(midnight.timestamp() * 1000) - 1)
        return None

    def fires_between(self, start_ms: int, end_ms: int, limit: int = 10_000) -> list[int]:
        """Fire times in ``(start_ms, end_ms]``, at most ``limit`` of them."""
        out: list[int] = []
        t = start_ms
        while len(out) < limit:
            nxt = self.next_fire(t)
            if nxt is None or nxt > end_ms:
                break
            out.append(nxt)
            t = nxt
        return out

    def describe(self) -> str:
        days = " on trading days" if self.trading_days else ""
        return f"{self.spec}{days} ({self.calendar.tz.key})"


def parse_schedule(
    spec: str, calendar: ExchangeCalendar, *, trading_days: bool = False
) -> Schedule:
    """Parse ``spec`` (see the module docstring); a bad one raises a one-line
    :class:`~quantdesk.errors.ScheduleError`."""
    text = " ".join(str(spec).strip().split())
    low = text.lower()
    if low == "once":
        return Schedule("once", "once", trading_days, calendar)
    kind, sep, body = low.partition(":")
    if not sep:
        kind, _, body = low.partition(" ")
    body = body.strip()
    if kind == "cron":
        return _cron(body, text, calendar, trading_days)
    if kind == "every":
        return _every(body, text, calendar, trading_days)
    raise ScheduleError(f"schedule {text!r} is not one of the allowed forms: {FORMS}")


def _cron(body: str, text: str, calendar: ExchangeCalendar, trading_days: bool) -> Schedule:
    from apscheduler.triggers.cron import CronTrigger

    fields = body.split()
    if len(fields) != 5:
        raise ScheduleError(
            f"schedule {text!r}: a cron expression has 5 fields (minute hour day-of-month "
            f"month day-of-week), got {len(fields)}"
        )
    minute, hour, dom, month, dow = fields
    if dom not in ("*", "?") and dow not in ("*", "?"):
        raise ScheduleError(
            f"schedule {text!r}: restrict the day of month or the day of week, not both"
        )
    try:
        dow_names = _weekdays(dow)
        trigger = CronTrigger(
            minute=minute,
            hour=hour,
            day="*" if dom == "?" else dom,
            month=month,
            day_of_week=dow_names,
            timezone=calendar.tz,
        )
    except ValueError as exc:
        raise ScheduleError(f"schedule {text!r}: {exc}") from None
    sched = Schedule(f"cron:{body}", "cron", trading_days, calendar, trigger)
    _check_fires(sched, text)
    return sched


def _weekdays(field: str) -> str:
    """A cron day-of-week field with numbers (0/7 = Sunday) as APScheduler day names."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    names: list[str] = []
    for token in field.split(","):
        base, _, step_s = token.partition("/")
        step = 1
        if step_s:
            if not step_s.isdigit() or int(step_s) < 1:
                raise ValueError(f"bad step {step_s!r} in day of week {field!r}")
            step = int(step_s)
        if base == "*":
            days.update(range(0, 7, step))
            continue
        lo_s, dash, hi_s = base.partition("-")
        if lo_s.isdigit() and (not dash or hi_s.isdigit()):
            lo, hi = int(lo_s), int(hi_s) if dash else int(lo_s)
            if not (0 <= lo <= 7 and 0 <= hi <= 7) or hi < lo:
                raise ValueError(f"day of week {base!r} is not in 0-7 (0 and 7 are Sunday)")
            if not dash and step_s:
                hi = 6
            days.update(d % 7 for d in range(lo, hi + 1, step))
            continue
        if lo_s in _NAMES and (not dash or hi_s in _NAMES):
            names.append(token)
            continue
        raise ValueError(f"day of week {token!r}: use 0-7 or sun..sat")
    parts = [_CRON_DAYS[d] for d in sorted(days)] + names
    return ",".join(parts)


def _every(body: str, text: str, calendar: ExchangeCalendar, trading_days: bool) -> Schedule:
    from apscheduler.triggers.interval import IntervalTrigger

    m = _EVERY.match(body)
    if m is None:
        raise ScheduleError(
            f"schedule {text!r}: an interval is every:<N><m|h|d|w>[@HH:MM], e.g. every:3d@08:30"
        )
    n, unit, hh, mm = int(m.group(1)), m.group(2), m.group(3), m.group(4)
    minutes = n * {"m": 1, "h": 60, "d": 1440, "w": 10080}[unit]
    if not 1 <= minutes <= _MAX_EVERY_MINUTES:
        raise ScheduleError(f"schedule {text!r}: the interval must be 1 minute to 366 days")
    at = dt.time()
    if hh is not None:
        if int(hh) > 23 or int(mm) > 59:
            raise ScheduleError(f"schedule {text!r}: {hh}:{mm} is not a time of day")
        at = dt.time(int(hh), int(mm))
    anchor = dt.datetime.combine(_ANCHOR_DAY, at, calendar.tz)
    trigger = IntervalTrigger(**{_UNITS[unit]: n}, start_date=anchor, timezone=calendar.tz)
    norm = f"every:{n}{unit}" + (f"@{at:%H:%M}" if hh is not None else "")
    sched = Schedule(norm, "every", trading_days, calendar, trigger)
    _check_fires(sched, text)
    return sched


def _check_fires(sched: Schedule, text: str) -> None:
    """Refuse a schedule that never fires (e.g. Sundays only, on trading days)."""
    probe_day = sched.calendar.bound - dt.timedelta(days=366)
    probe = dt.datetime.combine(probe_day, dt.time(), sched.calendar.tz)
    if sched.next_fire(int(probe.timestamp() * 1000)) is None:
        days = " on a trading day" if sched.trading_days else ""
        raise ScheduleError(f"schedule {text!r} never fires{days}")
