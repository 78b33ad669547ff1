"""WebSocket channels and the hub: auth, subscriptions, slow clients."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from starlette.websockets import WebSocketDisconnect

from quantdesk.api.hub import Hub
from quantdesk.domain import Bar, FactorValue, ScoredTweet, Signal
from quantdesk.runtime.pipeline import Output
from tests.unit.api._app import build, token

T0 = 1_795_138_200_000


class FakeRuntime:
    def __init__(self) -> None:
        self.output_listeners: list = []

    def describe(self) -> dict:
        return {"trades": 7}

    def emit(self, out: Output) -> None:  # what EmbeddedRuntime's consumer does
        for listener in self.output_listeners:
            listener(out)


def _bar(symbol: str, interval: str, final: bool) -> Bar:
    return Bar(symbol, interval, T0, 1, 2, 0.5, 1.5, 10, 1.2, 3, "simulator", final)


@pytest.fixture
def app_rt(tmp_path: Path):
    rt = FakeRuntime()
    client, store = build(tmp_path, rt)
    with client:
        yield client, rt
    store.close()


def test_missing_or_bad_token_closes_4401(app_rt) -> None:
    client, _ = app_rt
    with (
        client.websocket_connect("/ws/enhanced?token=bad") as ws,
        pytest.raises(WebSocketDisconnect) as exc,
    ):
        ws.receive_json()
    assert exc.value.code == 4401
    with client.websocket_connect("/ws/market") as ws:
        ws.send_json({"subscribe": {"symbols": ["X"]}})
        with pytest.raises(WebSocketDisconnect) as exc:
            ws.receive_json()
    assert exc.value.code == 4401
    guest = token(client, "guest")
    with (
        client.websocket_connect(f"/ws/logs?token={guest}") as ws,
        pytest.raises(WebSocketDisconnect) as exc,
    ):
        ws.receive_json()
    assert exc.value.code == 4403


def test_market_subscription_gets_bars_factors_signals(app_rt) -> None:
    client, rt = app_rt
    tok = token(client, "guest")
    with client.websocket_connect("/ws/market") as ws:
        ws.send_json({"token": tok})
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"subscribe": {"symbols": ["600036.SH"], "intervals": ["1m"]}})
        assert ws.receive_json()["data"]["symbols"] == ["600036.SH"]
        out = Output(
            bars=[
                _bar("600036.SH", "5m", False),  # other interval: filtered out
                _bar("000001.SZ", "1m", False),  # other symbol: filtered out
                _bar("600036.SH", "1m", False),
                _bar("600036.SH", "1m", True),
            ],
            factors=[FactorValue("600036.SH", T0, "obi", 0.7, "")],
            signals=[Signal("600036.SH", T0, "obi", 0.7, "buy", "obi")],
        )
        threading.Thread(target=rt.emit, args=(out,)).start()  # from another thread
        got = [ws.receive_json() for _ in range(4)]
        assert [m["type"] for m in got] == ["bar", "bar", "factor", "signal"]
        assert [m["data"]["final"] for m in got[:2]] == [False, True]
        assert got[0]["data"]["time"].endswith("Z")
        ws.send_json({"ping": 1})
        assert ws.receive_json() == {"type": "pong", "data": 1}


def test_tweets_reach_subscribers_of_any_symbol_they_name(app_rt) -> None:
    client, rt = app_rt
    tok = token(client, "guest")
    text = "<script>alert(1)</script> $600036 and $000001 both up"
    both = ScoredTweet("9", T0, text, ("600036.SH", "000001.SZ"), 0.8, "positive", "mocker")
    other = ScoredTweet("8", T0, "$600000 down", ("600000.SH",), -0.7, "negative", "mocker")
    none = ScoredTweet("7", T0, "nice weather", (), 0.0, "neutral", "mocker")
    with client.websocket_connect(f"/ws/market?token={tok}") as ws:
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"subscribe": {"symbols": ["000001.SZ"], "intervals": ["1m"]}})
        ws.receive_json()
        rt.emit(Output(tweets=[other, none, both]))
        rt.emit(Output(signals=[Signal("000001.SZ", T0, "obi", 0.7, "buy", "obi")]))
        got = [ws.receive_json() for _ in range(2)]
    assert [m["type"] for m in got] == ["tweet", "signal"]  # exactly once, others filtered
    data = got[0]["data"]
    assert data["text"] == text and data["symbols"] == ["600036.SH", "000001.SZ"]
    assert data["id"] == data["version_id"] == "9" and data["time"].endswith("Z")


def test_enhanced_and_metrics_channels(app_rt) -> None:
    client, rt = app_rt
    tok = token(client, "admin")
    with client.websocket_connect(f"/ws/enhanced?token={tok}") as ws:
        assert ws.receive_json()["type"] == "welcome"
        rt.emit(Output(bars=[_bar("000001.SZ", "1m", True)]))
        assert ws.receive_json()["type"] == "bar"
    with client.websocket_connect(f"/ws/pipeline-status?token={tok}") as ws:
        ws.receive_json()
        msg = ws.receive_json()  # within ~1 s
        assert msg == {"type": "pipeline_status", "data": {"trades": 7}}
    with client.websocket_connect(f"/ws/stream-metrics?token={tok}") as ws:
        ws.receive_json()
        assert ws.receive_json()["type"] == "stream_metrics"
    for channel in ("ai-predictions", "risk-alerts"):
        with client.websocket_connect(f"/ws/{channel}?token={tok}") as ws:
            assert ws.receive_json()["data"]["channel"] == channel


def test_logs_channel_streams_records(app_rt) -> None:
    import logging

    client, _ = app_rt
    tok = token(client, "admin")
    logger = logging.getLogger("quantdesk.test")
    old = logging.getLogger("quantdesk").level
    logging.getLogger("quantdesk").setLevel(logging.INFO)
    try:
        with client.websocket_connect(f"/ws/logs?token={tok}") as ws:
            ws.receive_json()
            logger.info("hello %s", "logs")
            msg = ws.receive_json()
            assert msg["type"] == "log" and msg["data"]["message"] == "hello logs"
    finally:
        logging.getLogger("quantdesk").setLevel(old)
    assert not any(
        type(h).__name__ == "HubLogHandler" for h in logging.getLogger("quantdesk").handlers
    )


class StuckSocket:
    """A client that never finishes receiving."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()

    async def send_text(self, data: str) -> None:
        await self.gate.wait()


def test_slow_client_drops_oldest_and_publisher_never_blocks() -> None:
    async def main() -> None:
        hub = Hub(queue_size=100)
        slow = hub.attach(StuckSocket(), "enhanced")
        sender = asyncio.create_task(slow.run_sender())
        outs = [Output(bars=[_bar("A", "1m", True)]) for _ in range(1_000)]
        took: list[float] = []

        def publish() -> None:
            for out in outs:
                t = time.perf_counter()
                hub.publish_output(out)
                took.append(time.perf_counter() - t)

        thread = threading.Thread(target=publish)
        thread.start()
        while thread.is_alive() or hub.published < 1_000:
            await asyncio.sleep(0.01)
        assert len(slow.queue) == 100
        assert slow.drops == hub.drops >= 1_000 - 100 - 1  # one may be in flight
        assert max(took) < 0.5  # never waits for the client (a blocked publisher would hang)
        assert hub.bars_closed == 1_000
        sender.cancel()
        hub.detach(slow)

    asyncio.run(main())
