"""RestAwareSink (the store side of the gap rule), the market-hours gate and the CLI's token
check."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from quantdesk.commands.ingest import app
from quantdesk.domain import Bar
from quantdesk.sources.finnhub import SOURCE_LIVE, SOURCE_REST, RestAwareSink
from quantdesk.storage import open_store

M = 60_000
T0 = 1_700_000_100_000  # a 5-minute boundary
assert T0 % (5 * M) == 0


def live(minute: int, volume: float, interval: str = "1m", final: bool = True) -> Bar:
    t = T0 + minute * M
    return Bar("AAPL", interval, t, 10, 11, 9, 10.5, volume, 10.2, 7, SOURCE_LIVE, final)


def rest(minute: int, volume: float) -> Bar:
    t = T0 + minute * M
    return Bar("AAPL", "1m", t, 10, 12, 8, 11, volume, (12 + 8 + 11) / 3, 0, SOURCE_REST)


@pytest.mark.parametrize("rest_first", [True, False])
def test_rest_minute_replaces_live_and_larger_bars_are_rolled_up(tmp_path, rest_first) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    sink = RestAwareSink(store, None)
    # minute 0 was seen live before a disconnect; the disconnect touched minutes 0 and 1
    sink.write([live(0, 5.0, final=False), live(0, 5.0, "5m", final=False)], [])
    sink.block([T0, T0 + M])
    later_live = [live(0, 6.0), live(2, 3.0), live(3, 4.0), live(4, 1.0)]
    five_live = live(0, 14.0, "5m")  # what the live aggregator thinks (misses minute 1)
    if rest_first:
        sink.write_rest("AAPL", [rest(0, 50.0), rest(1, 60.0)], [T0, T0 + M])
        sink.write([*later_live, five_live], [])
    else:
        sink.write([*later_live, five_live], [])
        sink.write_rest("AAPL", [rest(0, 50.0), rest(1, 60.0)], [T0, T0 + M])
    one = {r[2]: (r[7], r[10]) for r in store.query_bars("AAPL", "1m")}
    assert one == {
        T0: (50.0, SOURCE_REST),
        T0 + M: (60.0, SOURCE_REST),
        T0 + 2 * M: (3.0, SOURCE_LIVE),
        T0 + 3 * M: (4.0, SOURCE_LIVE),
        T0 + 4 * M: (1.0, SOURCE_LIVE),
    }
    five = store.query_bars("AAPL", "5m")
    assert len(five) == 1
    assert five[0][7] == 118.0 and five[0][10] == SOURCE_REST
    assert (five[0][3], five[0][4], five[0][5], five[0][6]) == (10, 12, 8, 10.5)  # o h l c
    assert five[0][9] == 21  # trades: REST minutes count 0
    assert sink.live_bars_dropped == 1
    store.close()


def test_cli_without_token_is_one_line_naming_the_variable(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("FINNHUB_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    result = CliRunner().invoke(app, ["finnhub", "--symbols", "AAPL"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "FINNHUB_TOKEN" in lines[0]


def test_market_hours_gate_uses_xnys() -> None:
    import datetime as dt

    from quantdesk.config import load_settings
    from quantdesk.sources.finnhub import FinnhubSource

    def at(y: int, mo: int, d: int, h: int, mi: int) -> int:
        return int(dt.datetime(y, mo, d, h, mi, tzinfo=dt.UTC).timestamp() * 1000)

    now = {"t": at(2024, 3, 16, 15, 0)}  # a Saturday
    settings = load_settings(finnhub_market_hours=True)
    source = FinnhubSource(settings, ["AAPL"], token="t", clock=lambda: now["t"])
    monday_open = at(2024, 3, 18, 13, 30)  # 09:30 New York (EDT)
    assert source._gate() == pytest.approx((monday_open - now["t"]) / 1000)
    now["t"] = at(2024, 3, 18, 15, 0)
    assert source._gate() == 0.0
    # only session minutes are touched (and fetched)
    source._mark([at(2024, 3, 18, 13, 29), monday_open, at(2024, 3, 18, 20, 0)])
    assert source.touched == {monday_open}
    off = FinnhubSource(load_settings(), ["AAPL"], token="t")
    assert off.client.gate is None and off.hours is None
    assert off.calendar is not None and off.calendar.name == "XNYS"  # bars: NYSE sessions
