"""Each provider against a local server answering in the provider's real shape."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from quantdesk.domain import BAR_COLUMNS, Bar
from quantdesk.export import CsvBarExporter
from quantdesk.sources.history import ProviderError
from quantdesk.sources.history.akshare import AkShareProvider
from quantdesk.sources.history.alphavantage import AlphaVantageProvider
from quantdesk.sources.history.finnhub_candles import FinnhubCandlesProvider
from quantdesk.sources.history.local import LocalFilesProvider
from quantdesk.sources.history.tushare import TushareProvider
from quantdesk.sources.history.yahoo import YahooProvider
from tests.unit.history import _answers as A
from tests.unit.history.conftest import ProviderServer, Reply

DAY = dt.date(2024, 1, 2)
CN_OPEN = int(dt.datetime(2024, 1, 2, 1, 30, tzinfo=dt.UTC).timestamp() * 1000)  # 09:30 +08
US_OPEN = int(dt.datetime(2024, 1, 2, 14, 30, tzinfo=dt.UTC).timestamp() * 1000)  # 09:30 -05
DAY_END = CN_OPEN + 86_400_000


def test_yahoo_parses_chart_and_drops_null_minutes(server: ProviderServer) -> None:
    rows = A.session_bars("cn", DAY, 5)
    answer = A.yahoo(rows)
    answer["chart"]["result"][0]["indicators"]["quote"][0]["close"][2] = None
    server.route("/v8/finance/chart/", Reply(body=answer))
    p = YahooProvider(server.url)
    bars = p.fetch("600036.SH", "1m", CN_OPEN, DAY_END)
    assert server.requests[0].path == "/v8/finance/chart/600036.SS"
    assert server.requests[0].query["interval"] == "1m"
    assert list(bars.columns) == list(BAR_COLUMNS)
    assert len(bars) == 4 and bars["time"].iloc[0] == CN_OPEN
    assert set(bars["source"]) == {"yahoo"} and set(bars["interval"]) == {"1m"}


def test_yahoo_error_and_rate_limit(server: ProviderServer) -> None:
    server.route("/v8/finance/chart/600037.SS", Reply(404, A.yahoo_error()))
    server.route("/v8/finance/chart/AAPL", Reply(429, "Too Many Requests", {"Retry-After": "30"}))
    p = YahooProvider(server.url)
    with pytest.raises(ProviderError, match=r"HTTP 404: .*symbol may be delisted"):
        p.fetch("600037.SH", "1m", CN_OPEN, DAY_END)
    with pytest.raises(ProviderError, match=r"rate limited \(HTTP 429, retry after 30 s\)"):
        p.fetch("AAPL", "1m", US_OPEN, DAY_END)
    server.route("/v8/finance/chart/MSFT", Reply(200, A.yahoo_error("Invalid input")))
    with pytest.raises(ProviderError, match="error answer: Invalid input"):
        p.fetch("MSFT", "1m", US_OPEN, DAY_END)


def test_akshare_end_labels_lots_and_auction_bar(server: ProviderServer) -> None:
    rows = A.session_bars("cn", DAY, 3)
    answer = A.eastmoney(rows)
    # the opening-auction bar is labelled 09:30 (it starts before the open)
    answer["data"]["klines"].insert(0, "2024-01-02 09:30,30.00,30.00,30.00,30.00,100,300000.00")
    server.route("/api/qt/stock/kline/get", Reply(body=answer))
    bars = AkShareProvider(server.url).fetch("600036.SH", "1m", CN_OPEN, DAY_END)
    q = server.requests[0].query
    assert q["secid"] == "1.600036" and q["klt"] == "1" and q["beg"] == "20240102"
    assert bars["time"].tolist() == [CN_OPEN, CN_OPEN + 60_000, CN_OPEN + 120_000]
    assert bars["volume"].iloc[0] == rows[0][5] + 100 * 100  # lots -> shares, auction folded in
    assert bars["volume"].iloc[1] == rows[1][5]
    assert (bars["vwap"] >= bars["low"]).all() and (bars["vwap"] <= bars["high"]).all()
    assert set(bars["source"]) == {"akshare"}


def test_akshare_unknown_secid(server: ProviderServer) -> None:
    server.route("/api/qt/stock/kline/get", Reply(body={"rc": 0, "rt": 17, "data": None}))
    with pytest.raises(ProviderError, match=r"no data for 000001\.SZ"):
        AkShareProvider(server.url).fetch("000001.SZ", "1m", CN_OPEN, DAY_END)
    assert server.requests[0].query["secid"] == "0.000001"


def test_tushare_posts_token_and_sorts_newest_first(server: ProviderServer) -> None:
    rows = A.session_bars("cn", DAY, 4)
    server.route("/tushare", Reply(body=A.tushare_mins(rows)))
    p = TushareProvider(server.url + "/tushare", "tok-123")
    bars = p.fetch("600036.SH", "1m", CN_OPEN, DAY_END)
    body = server.requests[0].body
    assert server.requests[0].method == "POST"
    assert body["api_name"] == "stk_mins" and body["token"] == "tok-123"
    assert body["params"]["ts_code"] == "600036.SH" and body["params"]["freq"] == "1min"
    assert bars["time"].tolist() == [r[0] for r in rows]
    assert bars["close"].tolist() == [r[4] for r in rows]


def test_tushare_errors(server: ProviderServer) -> None:
    server.route("/tushare", Reply(body=A.tushare_error(40203, "抱歉，您每分钟最多访问该接口2次")))
    with pytest.raises(ProviderError, match="code 40203"):
        TushareProvider(server.url + "/tushare", "tok").fetch("600036.SH", "1m", CN_OPEN, DAY_END)
    with pytest.raises(ProviderError, match="no token"):
        TushareProvider(server.url + "/tushare", "").fetch("600036.SH", "1m", CN_OPEN, DAY_END)


def test_alphavantage_intraday_and_rate_limit_note(server: ProviderServer) -> None:
    rows = A.session_bars("us", DAY, 5)
    server.route("/query", Reply(body=A.alphavantage(rows)))
    p = AlphaVantageProvider(server.url, "key-1")
    bars = p.fetch("AAPL", "1m", US_OPEN, US_OPEN + 3_600_000)
    q = server.requests[0].query
    assert q["function"] == "TIME_SERIES_INTRADAY" and q["month"] == "2024-01"
    assert q["apikey"] == "key-1" and q["interval"] == "1min"
    assert bars["time"].tolist() == [r[0] for r in rows]  # keys are bar starts, US/Eastern
    note = {"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls"}
    server.route("/query", Reply(body=note))
    with pytest.raises(ProviderError, match="rate limited: Thank you"):
        p.fetch("AAPL", "1m", US_OPEN, US_OPEN + 3_600_000)
    server.route("/query", Reply(body={"Error Message": "Invalid API call."}))
    with pytest.raises(ProviderError, match="error: Invalid API call"):
        p.fetch("AAPL", "1m", US_OPEN, US_OPEN + 3_600_000)


def test_finnhub_candles_ok_no_data_and_forbidden(server: ProviderServer) -> None:
    rows = A.session_bars("us", DAY, 3)
    server.route("/stock/candle", Reply(body=A.finnhub(rows)))
    p = FinnhubCandlesProvider(server.url, "fh-token")
    bars = p.fetch("AAPL", "1m", US_OPEN, US_OPEN + 3_600_000)
    q = server.requests[0].query
    assert q["symbol"] == "AAPL" and q["resolution"] == "1" and q["token"] == "fh-token"
    assert bars["time"].tolist() == [r[0] for r in rows]
    server.route("/stock/candle", Reply(body={"s": "no_data"}))
    assert p.fetch("AAPL", "1m", US_OPEN, US_OPEN + 60_000).empty
    server.route("/stock/candle", Reply(403, {"error": "You don't have access to this resource."}))
    with pytest.raises(ProviderError, match="HTTP 403"):
        p.fetch("AAPL", "1m", US_OPEN, US_OPEN + 60_000)


def test_local_reads_exported_csv(tmp_path: Path) -> None:
    rows = A.session_bars("cn", DAY, 3)
    exporter = CsvBarExporter(tmp_path)
    exporter.on_bars(
        [Bar("600036.SH", "1m", t, o, h, lo, c, v, (h + lo) / 2, 7) for t, o, h, lo, c, v in rows]
    )
    bars = LocalFilesProvider(tmp_path).fetch("600036.SH", "1m", CN_OPEN, DAY_END)
    assert bars["time"].tolist() == [r[0] for r in rows]
    assert set(bars["source"]) == {"local"} and bars["trades"].tolist() == [7, 7, 7]
    with pytest.raises(ProviderError, match="no file"):
        LocalFilesProvider(tmp_path).fetch("AAPL", "1m", US_OPEN, DAY_END)
