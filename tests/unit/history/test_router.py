"""Failover order, per-provider timeouts, validation of answers, and the reasons logged."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pandas as pd
import pytest

from quantdesk.domain import Bar
from quantdesk.export import CsvBarExporter
from quantdesk.sources.history import HistoryRouter, NoHistoryError, validate_bars
from quantdesk.sources.history.akshare import AkShareProvider
from quantdesk.sources.history.alphavantage import AlphaVantageProvider
from quantdesk.sources.history.base import bars_frame
from quantdesk.sources.history.local import LocalFilesProvider
from quantdesk.sources.history.tushare import TushareProvider
from quantdesk.sources.history.yahoo import YahooProvider
from tests.unit.history import _answers as A
from tests.unit.history.conftest import ProviderServer, Reply

DAY = dt.date(2024, 1, 2)
CN_OPEN = int(dt.datetime(2024, 1, 2, 1, 30, tzinfo=dt.UTC).timestamp() * 1000)
END = CN_OPEN + 86_400_000


def frame(rows: list[tuple[int, float, float, float, float, float]]) -> pd.DataFrame:
    cols = list(zip(*rows, strict=True)) if rows else [[]] * 6
    return bars_frame("t", "600036.SH", "1m", *cols)


GOOD = [(0, 10.0, 10.2, 9.9, 10.1, 100.0), (60_000, 10.1, 10.3, 10.0, 10.2, 50.0)]


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ([], "empty answer"),
        ([GOOD[1], GOOD[0]], "time not strictly increasing"),
        ([GOOD[0], GOOD[0]], "time not strictly increasing"),
        ([(0, 10.0, 9.0, 9.5, 9.6, 1.0)], "high < low"),
        ([(0, 11.0, 10.5, 9.5, 10.0, 1.0)], "open outside [low, high]"),
        ([(0, 10.0, 10.5, 9.5, 9.0, 1.0)], "close outside [low, high]"),
        ([(0, 10.0, 10.5, 9.5, 10.0, -5.0)], "negative or missing volume"),
        ([(0, 0.0, 10.5, 0.0, 10.0, 5.0)], "non-positive"),
        ([GOOD[0], (60_000, 16.0, 16.0, 16.0, 16.0, 1.0)], "absurd jump 58%"),
    ],
)
def test_validate_rejects_malformed(rows: list, problem: str) -> None:
    reason = validate_bars(frame(rows))
    assert reason is not None and problem in reason


def test_validate_accepts_good() -> None:
    assert validate_bars(frame(GOOD)) is None


def _local_file(root: Path) -> None:
    rows = A.session_bars("cn", DAY, 10)
    CsvBarExporter(root).on_bars(
        [Bar("600036.SH", "1m", t, o, h, lo, c, v, c, 3) for t, o, h, lo, c, v in rows]
    )


def test_failover_in_order_with_reasons_logged(
    server: ProviderServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = A.session_bars("cn", DAY, 10)
    server.route("/em/", Reply(body=A.eastmoney(rows), delay=1.0))  # slower than its timeout
    bad = A.yahoo(rows)
    bad["chart"]["result"][0]["indicators"]["quote"][0]["high"][3] = 1.0  # high < low
    server.route("/yahoo/", Reply(body=bad))
    server.route("/av/", Reply(body={"Note": "rate limit"}))
    server.route("/tushare", Reply(429, {"code": 40203, "msg": "too many"}))
    _local_file(tmp_path)
    router = HistoryRouter(
        [
            AkShareProvider(server.url + "/em", timeout=0.2),
            YahooProvider(server.url + "/yahoo"),
            AlphaVantageProvider(server.url + "/av", "k"),
            TushareProvider(server.url + "/tushare", "tok"),
            LocalFilesProvider(tmp_path),
        ]
    )
    with caplog.at_level(logging.WARNING, logger="quantdesk.history"), router:
        result = router.fetch("600036.SH", "1m", CN_OPEN, END)
    assert result.provider == "local"
    assert set(result.bars["source"]) == {"local"} and len(result.bars) == 10
    names = [p for p, _ in result.attempts]
    assert names == ["akshare", "yahoo", "alphavantage", "tushare"]
    reasons = dict(result.attempts)
    assert reasons["akshare"] == "timeout after 0.2 s"
    assert reasons["yahoo"].startswith("bad answer: high < low at 2024-01-02T01:33:00Z")
    assert reasons["alphavantage"].startswith("skipped: does not serve the cn market")
    assert reasons["tushare"] == "rate limited (HTTP 429)"
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "history: akshare failed for 600036.SH 1m: timeout after 0.2 s",
        "history: yahoo failed for 600036.SH 1m: bad answer: high < low at 2024-01-02T01:33:00Z",
        "history: tushare failed for 600036.SH 1m: rate limited (HTTP 429)",
    ]


def test_first_good_answer_wins_and_later_providers_are_not_asked(server: ProviderServer) -> None:
    rows = A.session_bars("cn", DAY, 5)
    server.route("/em/", Reply(body=A.eastmoney(rows)))
    server.route("/yahoo/", Reply(body=A.yahoo(rows)))
    router = HistoryRouter(
        [AkShareProvider(server.url + "/em"), YahooProvider(server.url + "/yahoo")]
    )
    result = router.fetch("600036.SH", "1m", CN_OPEN, END)
    assert result.provider == "akshare" and result.attempts == []
    assert all(r.path.startswith("/em/") for r in server.requests)


def test_all_fail_lists_every_reason(server: ProviderServer) -> None:
    server.route("/em/", Reply(body={"rc": 0, "data": {"klines": []}}))
    server.route("/yahoo/", Reply(raw=b"<html>oops</html>"))
    router = HistoryRouter(
        [AkShareProvider(server.url + "/em"), YahooProvider(server.url + "/yahoo")]
    )
    with pytest.raises(NoHistoryError) as info:
        router.fetch("600036.SH", "1m", CN_OPEN, END)
    assert info.value.attempts[0] == ("akshare", "bad answer: empty answer")
    assert info.value.attempts[1][1].startswith("malformed answer: not JSON")
    assert "akshare: bad answer: empty answer" in str(info.value)


def test_connection_refused_falls_over(server: ProviderServer) -> None:
    rows = A.session_bars("cn", DAY, 5)
    server.route("/yahoo/", Reply(body=A.yahoo(rows)))
    router = HistoryRouter(
        [AkShareProvider("http://127.0.0.1:9", timeout=1), YahooProvider(server.url + "/yahoo")]
    )
    result = router.fetch("600036.SH", "1m", CN_OPEN, END)
    assert result.provider == "yahoo"
    assert result.attempts[0][1].startswith("request failed (ConnectError")


def test_budget_spans_every_request_of_one_fetch(server: ProviderServer) -> None:
    # each request alone is under the timeout; together (several months) they are not
    rows = A.session_bars("us", DAY, 3)
    server.route("/av/", Reply(body=A.alphavantage(rows), delay=0.15))
    router = HistoryRouter([AlphaVantageProvider(server.url + "/av", "k", timeout=0.25)])
    start = int(dt.datetime(2023, 11, 1, tzinfo=dt.UTC).timestamp() * 1000)
    with pytest.raises(NoHistoryError) as info:
        router.fetch("AAPL", "1m", start, END)
    assert info.value.attempts == [("alphavantage", "timeout after 0.25 s")]


def test_yahoo_asks_for_long_1m_windows_in_7_day_pieces(server: ProviderServer) -> None:
    days = [dt.date(2024, 1, d) for d in (2, 9, 16)]
    rows = [r for d in days for r in A.session_bars("cn", d, 2)]

    def answer(req):
        lo, hi = int(req.query["period1"]) * 1000, int(req.query["period2"]) * 1000
        return Reply(body=A.yahoo([r for r in rows if lo <= r[0] < hi]))

    server.route("/y/", answer)
    start = CN_OPEN
    result = HistoryRouter([YahooProvider(server.url + "/y")]).fetch(
        "600036.SH", "1m", start, start + 20 * 86_400_000
    )
    assert len(server.requests) == 3
    assert result.bars["time"].tolist() == [r[0] for r in rows]
