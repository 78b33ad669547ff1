"""WebSocket channels and the hub: auth, subscriptions, limits, slow clients.

Live messages reach the hub only through the bus: the tests publish a
pipeline Output on an in-process bus with the runtime's own
:func:`~quantdesk.runtime.outputs.publish_output`, as the runtime does.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from starlette.websockets import WebSocketDisconnect

from quantdesk.api.context import RuntimeCounters
from quantdesk.bus.memory import MemoryBus
from quantdesk.domain import Bar, FactorValue, ScoredTweet, Signal
from quantdesk.runtime.outputs import publish_output
from quantdesk.runtime.pipeline import Output
from tests.unit.api._app import build, token

T0 = 1_795_138_200_000


class FakeRuntime:
    """Figures of a runtime; its output goes to the bus like the real one's."""

    market = "cn"
    stopping = False

    def __init__(self) -> None:
        self.bus = MemoryBus()
        self.bus.start()

    def describe(self) -> dict:
        return {"trades": 7}

    def counters(self) -> RuntimeCounters:
        return RuntimeCounters(trades=7)

    def emit(self, out: Output) -> None:  # what the runtime's consumer does
        publish_output(self.bus, out)


def _bar(symbol: str, interval: str, final: bool) -> Bar:
    return Bar(symbol, interval, T0, 1, 2, 0.5, 1.5, 10, 1.2, 3, "simulator", final)


@pytest.fixture
def app_rt(tmp_path: Path):
    rt = FakeRuntime()
    client, store = build(tmp_path, rt, rt.bus)
    with client:
        yield client, rt
    store.close()


def test_missing_or_bad_token_closes_4401(app_rt) -> None:
    client, _ = app_rt
    with client.websocket_connect("/ws/enhanced") as ws:
        ws.send_json({"token": "bad"})
        with pytest.raises(WebSocketDisconnect) as exc:
            ws.receive_json()
    assert exc.value.code == 4401
    with client.websocket_connect("/ws/market") as ws:
        ws.send_json({"subscribe": {"symbols": ["X"]}})
        with pytest.raises(WebSocketDisconnect) as exc:
            ws.receive_json()
    assert exc.value.code == 4401
    guest = token(client, "guest")
    with client.websocket_connect("/ws/logs") as ws:
        ws.send_json({"token": guest})
        with pytest.raises(WebSocketDisconnect) as exc:
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
            ]
        )
        threading.Thread(target=rt.emit, args=(out,)).start()  # from another thread
        first = ws.receive_json()
        assert first["type"] == "bar" and first["data"]["final"] is False
        assert first["data"]["time"].endswith("Z")
        out = Output(
            bars=[_bar("600036.SH", "1m", True)],
            factors=[FactorValue("600036.SH", T0, "obi", 0.7, "")],
            signals=[Signal("600036.SH", T0, "obi", 0.7, "buy", "obi")],
        )
        rt.emit(out)
        got = [ws.receive_json() for _ in range(3)]
        assert [m["type"] for m in got] == ["bar", "factor", "signal"]
        assert got[0]["data"]["final"] is True
        ws.send_json({"ping": 1})
        assert ws.receive_json() == {"type": "pong", "data": 1}


def test_tweets_reach_subscribers_of_any_symbol_they_name(app_rt) -> None:
    client, rt = app_rt
    tok = token(client, "guest")
    text = "<script>alert(1)</script> $600036 and $000001 both up"
    both = ScoredTweet("9", T0, text, ("600036.SH", "000001.SZ"), 0.8, "positive", "mocker")
    other = ScoredTweet("8", T0, "$600000 down", ("600000.SH",), -0.7, "negative", "mocker")
    none = ScoredTweet("7", T0, "nice weather", (), 0.0, "neutral", "mocker")
    with client.websocket_connect("/ws/market") as ws:
        ws.send_json({"token": tok})
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"subscribe": {"symbols": ["000001.SZ"], "intervals": ["1m"]}})
        ws.receive_json()
        rt.emit(Output(tweets=[other, none, both]))
        rt.emit(Output(signals=[Signal("000001.SZ", T0, "obi", 0.7, "buy", "obi")]))
        got = [ws.receive_json() for _ in range(2)]
    # exactly once, the others filtered (no order across topics: each keeps its own)
    assert sorted(m["type"] for m in got) == ["signal", "tweet"]
    data = next(m for m in got if m["type"] == "tweet")["data"]
    assert data["text"] == text and data["symbols"] == ["600036.SH", "000001.SZ"]
    assert data["id"] == data["version_id"] == "9" and data["time"].endswith("Z")


def test_enhanced_and_metrics_channels(app_rt) -> None:
    client, rt = app_rt
    tok = token(client, "admin")
    with client.websocket_connect("/ws/enhanced", headers=_auth(tok)) as ws:
        assert ws.receive_json()["type"] == "welcome"
        rt.emit(Output(bars=[_bar("000001.SZ", "1m", True)]))
        assert ws.receive_json()["type"] == "bar"
    with client.websocket_connect("/ws/pipeline-status", headers=_auth(tok)) as ws:
        ws.receive_json()
        msg = ws.receive_json()  # within ~1 s
        assert msg == {"type": "pipeline_status", "data": {"trades": 7}}
    with client.websocket_connect("/ws/stream-metrics", headers=_auth(tok)) as ws:
        ws.receive_json()
        assert ws.receive_json()["type"] == "stream_metrics"
    for channel in ("ai-predictions", "risk-alerts"):
        with client.websocket_connect(f"/ws/{channel}", headers=_auth(tok)) as ws:
            assert ws.receive_json()["data"]["channel"] == channel


def test_job_events_reach_pipeline_status_as_each_run_starts_and_ends(app_rt) -> None:
    from quantdesk.jobs.events import publisher
    from quantdesk.storage.jobs import RunRow

    client, rt = app_rt
    tok = token(client, "guest")
    send = publisher(rt.bus)  # the scheduler's listener in quantdesk run
    error = "<b>ModelError</b>: no rows"
    started = RunRow(
        3, "predict", "schedule", T0, 1, "started", T0 + 5, None, None, None, {}, {}, "", "me"
    )
    failed = RunRow(
        3, "predict", "schedule", T0, 1, "failed", T0 + 5, T0 + 9, None, None, {}, {}, error, "me"
    )
    with client.websocket_connect("/ws/pipeline-status", headers=_auth(tok)) as ws:
        assert ws.receive_json()["type"] == "welcome"
        send(started)
        send(failed)
        got = []
        while len(got) < 2:  # the once-a-second status frames interleave
            msg = ws.receive_json()
            if msg["type"] == "job":
                got.append(msg["data"])
    assert [(d["job"], d["event"], d["status"]) for d in got] == [
        ("predict", "started", "started"),
        ("predict", "failed", "failed"),
    ]
    assert got[1]["run_id"] == 3 and got[1]["error"] == error  # as sent; the page escapes it
    assert got[1]["finished_ms"] == T0 + 9 and got[0]["finished"] is None


def test_logs_channel_streams_records(app_rt) -> None:
    import logging

    client, _ = app_rt
    tok = token(client, "admin")
    logger = logging.getLogger("quantdesk.test")
    old = logging.getLogger("quantdesk").level
    logging.getLogger("quantdesk").setLevel(logging.INFO)
    try:
        with client.websocket_connect("/ws/logs", headers=_auth(tok)) as ws:
            ws.receive_json()
            logger.info("hello %s", "logs")
            msg = ws.receive_json()
            assert msg["type"] == "log" and msg["data"]["message"] == "hello logs"
    finally:
        logging.getLogger("quantdesk").setLevel(old)
    assert not any(
        type(h).__name__ == "HubLogHandler" for h in logging.getLogger("quantdesk").handlers
    )


def _auth(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


# -- limits that hold whoever the client is (issue 16, items 3 and 6) ---------------------


def _closed_with(ws, code: int) -> str:
    with pytest.raises(WebSocketDisconnect) as exc:
        for _ in range(10):
            ws.receive_json()
    assert exc.value.code == code
    return str(exc.value.reason)


def test_a_token_in_the_url_is_refused_and_never_needed(app_rt) -> None:
    client, _ = app_rt
    tok = token(client, "guest")
    with client.websocket_connect(f"/ws/market?token={tok}") as ws:
        reason = _closed_with(ws, 4401)
    assert "first message" in reason and tok not in reason
    with client.websocket_connect("/ws/market", headers=_auth(tok)) as ws:
        assert ws.receive_json()["type"] == "welcome"


def test_a_token_of_a_user_that_does_not_exist_is_refused(app_rt) -> None:
    from quantdesk.auth import TokenService

    client, _ = app_rt
    ghost = TokenService("unit-test-secret-0123456789abcdef0123").issue("ghost", "admin")
    with client.websocket_connect("/ws/enhanced") as ws:
        ws.send_json({"token": ghost})
        assert "no longer exists" in _closed_with(ws, 4401)


def test_an_open_socket_closes_4401_when_its_token_expires(app_rt) -> None:
    from quantdesk.auth import TokenService

    client, _ = app_rt
    tokens = TokenService("unit-test-secret-0123456789abcdef0123", expire_minutes=60)
    short = tokens.issue("guest", "guest", now=time.time() - 3600 + 1.5)  # ~1.5 s left
    with client.websocket_connect("/ws/market") as ws:
        ws.send_json({"token": short})
        assert ws.receive_json()["type"] == "welcome"
        t0 = time.monotonic()
        assert "expired" in _closed_with(ws, 4401)
        assert 0.3 < time.monotonic() - t0 < 5


def test_a_fresher_token_keeps_the_socket_open(app_rt) -> None:
    from quantdesk.auth import TokenService

    client, _ = app_rt
    tokens = TokenService("unit-test-secret-0123456789abcdef0123", expire_minutes=60)
    short = tokens.issue("guest", "guest", now=time.time() - 3600 + 3.0)  # 3 s left (a busy CI)
    with client.websocket_connect("/ws/market") as ws:
        ws.send_json({"token": short})
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"token": tokens.issue("guest", "guest")})
        time.sleep(3.5)  # past the first token's expiry
        ws.send_json({"ping": "still here"})
        assert ws.receive_json() == {"type": "pong", "data": "still here"}


def test_an_oversized_message_closes_the_socket_1009(app_rt) -> None:
    client, _ = app_rt
    with client.websocket_connect("/ws/market", headers=_auth(token(client, "guest"))) as ws:
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"ping": "x" * 70_000})  # over QUANTDESK_WS_MAX_FRAME_BYTES (64 KiB)
        _closed_with(ws, 1009)


def test_subscriptions_are_bounded_and_replies_small(app_rt) -> None:
    from quantdesk.api.routers.ws import MAX_SYMBOL_LENGTH, MAX_SYMBOLS

    client, _ = app_rt
    with client.websocket_connect("/ws/market", headers=_auth(token(client, "guest"))) as ws:
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"subscribe": {"symbols": ["X" * (MAX_SYMBOL_LENGTH + 1)]}})
        assert ws.receive_json()["type"] == "error"
        too_many = [f"S{i}" for i in range(MAX_SYMBOLS + 1)]
        ws.send_json({"subscribe": {"symbols": too_many}})
        assert "at most" in ws.receive_json()["data"]["detail"]
        # subscriptions add up, but never past the bound
        for k in range(4):
            chunk = [f"{k}-{i}" for i in range(MAX_SYMBOLS // 2)]
            ws.send_json({"subscribe": {"symbols": chunk}})
            reply = ws.receive_text()
            assert len(reply) < 10_000
        ws.send_json({"unsubscribe": True})
        assert ws.receive_json()["data"] == {"symbols": [], "intervals": []}
        ws.send_bytes(b"binary")
        assert ws.receive_json()["type"] == "error"
