"""Symbol conventions of each provider."""

from __future__ import annotations

import pytest

from quantdesk.errors import DataError
from quantdesk.sources.history import symbols as S


@pytest.mark.parametrize(
    ("ours", "yahoo", "akshare", "secid", "tushare"),
    [
        ("600036.SH", "600036.SS", "sh600036", "1.600036", "600036.SH"),
        ("000001.SZ", "000001.SZ", "sz000001", "0.000001", "000001.SZ"),
        ("830799.BJ", "830799.BJ", "bj830799", "0.830799", "830799.BJ"),
    ],
)
def test_a_share_mapping_round_trips(
    ours: str, yahoo: str, akshare: str, secid: str, tushare: str
) -> None:
    assert S.to_yahoo(ours) == yahoo and S.from_yahoo(yahoo) == ours
    assert S.to_akshare(ours) == akshare and S.from_akshare(akshare) == ours
    assert S.to_secid(ours) == secid and S.from_secid(secid, ours[-2:]) == ours
    assert S.to_tushare(ours) == tushare and S.from_tushare(tushare) == ours
    assert S.market_of(ours) == "cn"
    assert S.canonical(akshare) == ours and S.canonical(yahoo) == ours


def test_us_tickers() -> None:
    assert S.to_yahoo("AAPL") == "AAPL" and S.to_us("aapl", "Finnhub") == "AAPL"
    assert S.to_yahoo("BRK.B") == "BRK-B" and S.from_yahoo("BRK-B") == "BRK.B"
    assert S.market_of("AAPL") == "us"
    assert S.from_secid("1.600036") == "600036.SH"


def test_wrong_market_and_garbage_are_one_line_errors() -> None:
    with pytest.raises(DataError, match="A-shares only"):
        S.to_secid("AAPL")
    with pytest.raises(DataError, match="US stocks only"):
        S.to_us("600036.SH", "Alpha Vantage")
    with pytest.raises(DataError, match="unknown symbol"):
        S.market_of("not a symbol!")
