"""Schedules: the allowed forms, cron's day numbers, trading days, intervals, bad input."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.calendars import get_calendar
from quantdesk.errors import ScheduleError
from quantdesk.jobs.schedule import is_trading_day, parse_schedule
from tests.unit.jobs.conftest import CN, local, local_ms

US = get_calendar("us")


def fires(spec: str, start: int, n: int, trading_days: bool = False, cal=CN) -> list[str]:  # type: ignore[no-untyped-def]
    sched = parse_schedule(spec, cal, trading_days=trading_days)
    out, t = [], start
    for _ in range(n):
        t = sched.next_fire(t)
        assert t is not None
        out.append(f"{local(t, cal.tz):%a %m-%d %H:%M}")
    return out


def test_cron_fires_in_exchange_time_on_trading_days_only() -> None:
    start = local_ms(2024, 9, 27, 10)
    assert fires("cron:35 9 * * *", start, 3, trading_days=True) == [
        "Mon 09-30 09:35",  # then the National Day holiday (10-01 .. 10-07)
        "Tue 10-08 09:35",
        "Wed 10-09 09:35",
    ]
    assert fires("cron:35 9 * * *", start, 3) == [
        "Sat 09-28 09:35",
        "Sun 09-29 09:35",
        "Mon 09-30 09:35",
    ]
    # the same clock time on the US market is New York time
    ny = local_ms(2024, 7, 3, 10, tz=US.tz)
    assert fires("cron:30 16 * * *", ny, 2, trading_days=True, cal=US) == [
        "Wed 07-03 16:30",
        "Fri 07-05 16:30",  # 4 July is a holiday
    ]


def test_day_of_week_numbers_follow_cron_not_apscheduler() -> None:
    start = local_ms(2024, 9, 27, 10)  # a Friday
    assert fires("cron:0 10 * * 6", start, 1) == ["Sat 09-28 10:00"]
    assert fires("cron:0 10 * * 0", start, 1) == ["Sun 09-29 10:00"]
    assert fires("cron:0 10 * * 7", start, 1) == ["Sun 09-29 10:00"]
    assert fires("cron:0 10 * * sat", start, 1) == ["Sat 09-28 10:00"]
    assert fires("cron:0 10 * * 1-5", start, 2) == ["Mon 09-30 10:00", "Tue 10-01 10:00"]
    assert fires("cron:0 10 * * */3", start, 3) == [  # 0, 3, 6: Sunday, Wednesday, Saturday
        "Sat 09-28 10:00",
        "Sun 09-29 10:00",
        "Wed 10-02 10:00",
    ]


def test_intervals_are_anchored_so_they_never_depend_on_when_they_were_stored() -> None:
    a = fires("every:3d@08:30", local_ms(2024, 9, 27, 10), 2)
    b = fires("every:3d@08:30", local_ms(2024, 9, 28, 9), 1)
    assert a == ["Sun 09-29 08:30", "Wed 10-02 08:30"]
    assert b == a[:1]  # one grid of fire times, whenever asked
    assert fires("every:90m", local_ms(2024, 9, 27, 10, 10), 2) == [
        "Fri 09-27 10:30",
        "Fri 09-27 12:00",
    ]


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 59),
    st.integers(0, 23),
    st.datetimes(min_value=dt.datetime(2016, 1, 1), max_value=dt.datetime(2030, 1, 1)),
)
def test_trading_day_cron_fires_after_the_instant_on_a_trading_day(
    minute: int, hour: int, when: dt.datetime
) -> None:
    sched = parse_schedule(f"cron:{minute} {hour} * * *", CN, trading_days=True)
    t = int(when.replace(tzinfo=dt.UTC).timestamp() * 1000)
    nxt = sched.next_fire(t)
    assert nxt is not None and nxt > t
    fire = local(nxt)
    assert (fire.hour, fire.minute) == (hour, minute)
    assert is_trading_day(CN, fire.date())
    # no trading day between: the previous candidate day at that time was not one
    day = fire.date() - dt.timedelta(days=1)
    while dt.datetime.combine(day, dt.time(hour, minute), CN.tz).timestamp() * 1000 > t:
        assert not is_trading_day(CN, day)
        day -= dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cron:61 9 * * *", "higher than the maximum value"),
        ("cron:0 9 * *", "has 5 fields"),
        ("cron:0 9 1 * mon", "not both"),
        ("cron:0 9 * * 8", "not in 0-7"),
        ("cron:0 9 * * funday", "use 0-7 or sun..sat"),
        ("cron:0 9 30 2 *", "never fires"),
        ("every:0m", "1 minute to 366 days"),
        ("every:400d", "1 minute to 366 days"),
        ("every:5x", "every:<N>"),
        ("every:1d@24:00", "not a time of day"),
        ("@daily", "not one of the allowed forms"),
        ("", "not one of the allowed forms"),
    ],
)
def test_bad_schedules_are_one_line_errors(spec: str, message: str) -> None:
    with pytest.raises(ScheduleError) as err:
        parse_schedule(spec, CN)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_trading_day_schedule_that_never_meets_a_trading_day_is_refused() -> None:
    with pytest.raises(ScheduleError, match="never fires on a trading day"):
        parse_schedule("cron:0 9 * * sun", CN, trading_days=True)
    assert parse_schedule("once", CN).next_fire(0) is None
