"""The Finnhub source through the runner against local fake servers: drops, stalls, garbage,
REST errors.

The fake generates trades on a simulated clock running 60x (one minute of
event time per wall second); the stored 1m bars are compared with its ground
truth: every minute present exactly once with the right volume.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from quantdesk.config import load_settings
from quantdesk.runtime.runner import Runner
from quantdesk.sources.finnhub import SOURCE_LIVE, SOURCE_REST, FinnhubSource
from quantdesk.storage import open_store
from quantdesk.storage.base import Store
from tests.unit.sources.finnhub.fake import FakeFinnhub, SimClock, rest_server

TOKEN = "tok-SECRET-8c1f0e"
SYMBOLS = ["AAPL", "TSLA"]
QUIET = "QUIET"  # subscribed, never trades: REST answers no_data
# 2023-11-14 22:15:30 UTC: a 5-minute boundary plus 30 s (the first minute is partial)
START = 1_699_999_800_000 + 30_000 + 900_000


def _settings(ws_url: str, rest_url: str):  # type: ignore[no-untyped-def]
    return load_settings(
        finnhub_ws_url=ws_url,
        finnhub_rest_url=rest_url,
        finnhub_backoff_base=0.05,
        finnhub_backoff_max=0.2,
        finnhub_silence_seconds=1.0,
        finnhub_heartbeat_seconds=0.05,
        finnhub_rest_settle_seconds=1.0,
        finnhub_rest_timeout=2.0,
        tweets="none",
    )


async def start(
    settings,  # type: ignore[no-untyped-def]
    symbols: list[str],
    store: Store,
    fake: FakeFinnhub,
    clock: SimClock,
    **source_options,
) -> tuple[Runner, asyncio.Task[None]]:
    """The runner over a Finnhub source (24h buckets, the fake's clock), running. The fake
    waits while the runner prepares, then both start at the clock's start."""
    fake.pause()
    source = FinnhubSource(
        settings, symbols, token=TOKEN, calendar=None, clock=clock, **source_options
    )
    runner = Runner(settings, store, source=source, test_mode=True, echo=lambda _m: None)
    await asyncio.to_thread(runner.prepare)
    clock.restart()
    fake.resume()
    return runner, asyncio.create_task(runner.run())


@pytest.mark.timeout(60)
def test_drop_and_stall_leave_no_hole_and_no_double_count(tmp_path, caplog, capsys) -> None:
    caplog.set_level(logging.DEBUG)
    assert START % 60_000 == 30_000 and (START - 30_000) % 300_000 == 0
    clock = SimClock(START, speed=60.0)

    async def scenario() -> tuple[object, FakeFinnhub, object, int]:
        fake = FakeFinnhub(clock, SYMBOLS, TOKEN)
        await fake.start()
        store = open_store(f"sqlite:///{tmp_path / 'fh.db'}")
        with rest_server(fake, TOKEN) as rest:
            rest.script = [
                (429, '{"error":"API limit reached"}', {"Retry-After": "0"}),
                (500, "oops", {}),
            ]
            settings = _settings(fake.url, rest.url)
            runner, task = await start(
                settings, [*SYMBOLS, QUIET], store, fake, clock, margin_ms=10_000
            )
            await asyncio.sleep(2.2)
            await fake.send_raw("this is not json")
            await fake.send_raw('{"type":"news","data":[]}')
            await fake.send_raw("[1, 2, 3]")
            await fake.send_raw('{"type":"trade","data":"nope"}')
            await fake.send_raw('{"type":"error","msg":"Invalid symbol FOO"}')
            await asyncio.sleep(0.5)
            fake.drop_all()  # abrupt drop
            await asyncio.sleep(2.0)
            fake.stall_all()  # silent connection: no trade, no ping
            await asyncio.sleep(3.0)
            stopped_at = clock()
            runner.stop()
            await asyncio.wait_for(task, 10)
        await fake.stop()
        return runner, fake, store, stopped_at

    runner, fake, store, stopped_at = asyncio.run(scenario())
    src = runner.source.stats()  # type: ignore[attr-defined]

    # reconnected twice (drop, stall) and re-subscribed every symbol each time
    assert src["connects"] >= 3
    assert src["disconnects"].get("dropped", 0) >= 1
    assert src["disconnects"].get("silent", 0) >= 1
    assert len(fake.subscriptions) >= 3
    for subs in fake.subscriptions:
        assert sorted(subs) == sorted([*SYMBOLS, QUIET])
    # garbage counted, error frame seen
    assert sum(src["bad_frames"].values()) >= 4
    assert src["server_errors"] >= 1
    assert src["rest_errors"] >= 2  # the scripted 429 and 500 were retried

    # ground truth: every complete minute from the start minute on
    first = START // 60_000 * 60_000
    last_end = (stopped_at // 60_000 - 1) * 60_000  # exclusive; the last minute may be cut
    assert last_end - first >= 6 * 60_000
    for symbol in SYMBOLS:
        truth = fake.minute_volumes(symbol, first, last_end)
        rows = store.query_bars(symbol, "1m", first, last_end)  # type: ignore[attr-defined]
        stored = {r[2]: r[7] for r in rows}
        assert len(stored) == len(rows)
        assert stored == truth, symbol
        sources = {r[2]: r[10] for r in rows}
        assert sources[first] == SOURCE_REST  # the start minute was only partly seen
        assert SOURCE_LIVE in sources.values()
        rest_minutes = [m for m, s in sources.items() if s == SOURCE_REST]
        assert len(rest_minutes) >= 3  # start + drop + stall
        # 5m bars are the roll-up of the final 1m bars (REST minutes included)
        five = store.query_bars(symbol, "5m", first, first + 300_000)  # type: ignore[attr-defined]
        assert len(five) == 1
        assert five[0][7] == sum(v for m, v in truth.items() if m < first + 300_000)
        assert five[0][10] == SOURCE_REST
    assert store.query_bars(QUIET, "1m") == []  # type: ignore[attr-defined]
    store.close()  # type: ignore[attr-defined]

    # the token never appears in logs or output
    out = capsys.readouterr()
    ours = [r for r in caplog.records if not r.name.startswith("tests.")]  # not the fake's
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in ours)
    assert "GET /?token=***" in text  # the websockets handshake log, redacted
    assert TOKEN not in text
    assert TOKEN not in out.out + out.err
    assert "quantdesk.sources.finnhub" in text


@pytest.mark.timeout(60)
def test_token_without_candle_access_switches_rest_off_and_keeps_live_trades(tmp_path) -> None:
    clock = SimClock(START, speed=60.0)

    async def scenario() -> tuple[object, FakeFinnhub, object, int]:
        fake = FakeFinnhub(clock, ["AAPL"], TOKEN)
        await fake.start()
        store = open_store(f"sqlite:///{tmp_path / 'fh.db'}")
        with rest_server(fake, TOKEN) as rest:
            rest.script = [(403, '{"error":"You don\'t have access to this resource."}', {})]
            runner, task = await start(_settings(fake.url, rest.url), ["AAPL"], store, fake, clock)
            await asyncio.sleep(2.8)
            stopped_at = clock()
            runner.stop()
            await asyncio.wait_for(task, 10)
        await fake.stop()
        return runner, fake, store, stopped_at

    runner, fake, store, stopped_at = asyncio.run(scenario())
    src = runner.source.stats()  # type: ignore[attr-defined]
    assert src["rest_enabled"] is False and src["rest_requests"] == 1, str(src)
    first = START // 60_000 * 60_000
    clean, end = first + 60_000, (stopped_at // 60_000) * 60_000
    assert end - clean >= 60_000
    truth = fake.minute_volumes("AAPL", clean, end)
    rows = store.query_bars("AAPL", "1m", clean, end)  # type: ignore[attr-defined]
    assert {r[2]: r[7] for r in rows} == truth
    assert {r[10] for r in rows} == {SOURCE_LIVE}
    store.close()  # type: ignore[attr-defined]
