"""The WebSocket loop and the REST client against local fake servers."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from quantdesk.sources.finnhub.candles import CandleClient, CandleFetchError
from quantdesk.sources.finnhub.client import GUARDED_LOGGERS, FinnhubClient, RedactFilter
from quantdesk.sources.finnhub.protocol import Trades
from tests.unit.sources.finnhub.fake import FakeFinnhub, SimClock, rest_server

TOKEN = "tok-UNIT-91ab"


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.trades = 0

    async def on_connected(self) -> None:
        self.events.append("connected")

    async def on_disconnected(self, reason: str) -> None:
        self.events.append(f"disconnected:{reason}")

    async def on_frame(self) -> None:
        pass

    async def on_trades(self, trades: Trades) -> None:
        self.trades += sum(len(c.ts) for c in trades.by_symbol.values())


async def _until(cond, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


@pytest.mark.timeout(30)
def test_resubscribes_after_drop_and_stall_and_counts_garbage() -> None:
    async def main() -> None:
        fake = FakeFinnhub(SimClock(1_700_000_000_000), ["AAPL", "MSFT"], TOKEN)
        await fake.start()
        rec = Recorder()
        client = FinnhubClient(
            fake.url, TOKEN, ["AAPL", "MSFT"], rec, backoff_base=0.05, backoff_max=0.1, silence=0.6
        )
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop))
        await _until(lambda: rec.trades > 0)
        await fake.send_raw("garbage{")
        await fake.send_raw('{"type":"unknown"}')
        await fake.send_raw('{"type":"error","msg":"Subscribing to too many symbols"}')
        await _until(lambda: client.stats.server_errors == 1 and client.stats.pings > 0)
        fake.drop_all()
        await _until(lambda: rec.events.count("connected") == 2)
        fake.stall_all()
        await _until(lambda: rec.events.count("connected") == 3)
        stop.set()
        await asyncio.wait_for(task, 5)
        await fake.stop()
        assert client.stats.bad_frames == {"bad_json": 1, "unknown_type": 1}
        assert client.stats.pings > 0
        assert rec.events[:5] == [
            "connected",
            "disconnected:dropped",
            "connected",
            "disconnected:silent",
            "connected",
        ]
        assert fake.subscriptions[:3] == [["AAPL", "MSFT"]] * 3
        assert client.stats.subscriptions_sent >= 6

    asyncio.run(main())


@pytest.mark.timeout(30)
def test_bad_token_backs_off_and_never_logs_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "tok-WRONG-77d2"
    filters = [(logging.getLogger(n), RedactFilter(secret)) for n in GUARDED_LOGGERS]
    for logger, f in filters:
        logger.addFilter(f)

    async def main() -> FinnhubClient:
        fake = FakeFinnhub(SimClock(1_700_000_000_000), ["AAPL"], TOKEN)
        await fake.start()
        client = FinnhubClient(
            fake.url, secret, ["AAPL"], Recorder(), backoff_base=0.02, backoff_max=0.05
        )
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop))
        await _until(lambda: client.stats.connect_failures >= 3)
        stop.set()
        await asyncio.wait_for(task, 5)
        await fake.stop()
        return client

    try:
        client = asyncio.run(main())
    finally:
        for logger, f in filters:
            logger.removeFilter(f)
    assert client.stats.connects == 0
    ours = [r for r in caplog.records if not r.name.startswith("tests.")]
    text = "\n".join(r.getMessage() for r in ours)
    assert "HTTP 401" in text
    assert secret not in text


@pytest.mark.timeout(30)
def test_candle_client_ok_no_data_errors_and_429() -> None:
    async def main() -> None:
        with rest_server(None, TOKEN) as rest:
            client = CandleClient(rest.url, TOKEN, timeout=2.0)
            ok = (
                200,
                '{"c":[2.0,2.5,9],"h":[2.1,2.6,9],"l":[1.9,2.4,9],"o":[2.0,2.5,9],'
                '"s":"ok","t":[1700000040,1700000100,1700000160],"v":[10,20,30]}',
                {},
            )
            rest.script = [
                ok,
                (200, '{"s":"no_data"}', {}),
                (429, '{"error":"API limit reached"}', {"Retry-After": "3"}),
                (500, "boom", {}),
                (200, "not json", {}),
            ]
            bars = await client.fetch("AAPL", 1_700_000_040_000, 1_700_000_160_000)
            assert [b.volume for b in bars] == [10.0, 20.0]  # the third is outside the range
            q = rest.requests[0]
            assert (q["symbol"], q["resolution"], q["token"]) == ("AAPL", "1", TOKEN)
            assert (q["from"], q["to"]) == ("1700000040", "1700000159")
            assert await client.fetch("AAPL", 0, 60_000) == []
            with pytest.raises(CandleFetchError) as err:
                await client.fetch("AAPL", 0, 60_000)
            assert err.value.retry_after == 3.0 and "429" in str(err.value)
            with pytest.raises(CandleFetchError, match="HTTP 500"):
                await client.fetch("AAPL", 0, 60_000)
            with pytest.raises(CandleFetchError, match="bad answer"):
                await client.fetch("AAPL", 0, 60_000)
            assert TOKEN not in str(err.value)
            assert not err.value.permanent
            rest.script = [(403, '{"error":"You don\'t have access to this resource."}', {})]
            with pytest.raises(CandleFetchError) as denied:
                await client.fetch("AAPL", 0, 60_000)
            assert denied.value.permanent
            await client.aclose()

    asyncio.run(main())
