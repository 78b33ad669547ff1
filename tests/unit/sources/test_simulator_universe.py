"""Preset universes, universe files and simulator parameters."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantdesk.config.settings import load_settings
from quantdesk.domain import StockMeta
from quantdesk.errors import ConfigError, DataError
from quantdesk.sources.simulator import SimulatorParams, default_universe, load_universe
from quantdesk.sources.simulator.universe import COLUMNS

HEADER = "symbol,name,market,sector,base_price,volatility,base_volume"


def test_default_universes() -> None:
    cn = default_universe("cn")
    us = default_universe("us")
    assert [m.symbol for m in cn] == [
        "600036.SH",
        "600519.SH",
        "000001.SZ",
        "000858.SZ",
        "601318.SH",
        "600000.SH",
        "000333.SZ",
        "002594.SZ",
        "601398.SH",
        "600276.SH",
    ]
    assert [m.symbol for m in us] == [
        "AAPL",
        "TSLA",
        "MSFT",
        "GOOGL",
        "AMZN",
        "NVDA",
        "META",
        "JPM",
        "JNJ",
        "XOM",
    ]
    assert {m.calendar for m in cn} == {"XSHG"} and {m.calendar for m in us} == {"XNYS"}
    assert {m.market for m in cn} == {"cn"} and {m.market for m in us} == {"us"}
    for m in cn + us:
        assert m.name and m.sector
        assert m.base_price > 0 and 0.05 < m.volatility < 1 and m.base_volume >= 10_000
    by_symbol = {m.symbol: m for m in cn}
    assert by_symbol["600036.SH"].name == "China Merchants Bank"
    assert by_symbol["600519.SH"].name == "Kweichow Moutai"
    assert by_symbol["000001.SZ"].name == "Ping An Bank"
    with pytest.raises(DataError, match="unknown market 'hk'"):
        default_universe("hk")


def write_csv(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "universe.csv"
    p.write_text(text, encoding="utf-8")
    return p


def test_load_csv(tmp_path: Path) -> None:
    p = write_csv(
        tmp_path,
        HEADER + ",calendar\n"
        "600036.SH,China Merchants Bank,cn,Banks,35,0.25,250000,XSHG\n"
        "000001.SZ,Ping An Bank,cn,Banks,11.5,0.27,420000,XSHE\n"
        "AAPL, Apple ,US,Technology,190,0.25,140000,\n"
        "\n",
    )
    got = load_universe(p)
    assert [m.symbol for m in got] == ["600036.SH", "000001.SZ", "AAPL"]
    assert got[1] == StockMeta(
        "000001.SZ", "Ping An Bank", "cn", "Banks", 11.5, 0.27, 420000, "XSHE"
    )
    assert got[2].name == "Apple" and got[2].market == "us" and got[2].calendar == "XNYS"


def test_load_toml(tmp_path: Path) -> None:
    p = tmp_path / "universe.toml"
    p.write_text(
        "[[stock]]\n"
        'symbol = "TSLA"\nname = "Tesla"\nmarket = "us"\nsector = "Autos"\n'
        "base_price = 250\nvolatility = 0.55\nbase_volume = 250000\n"
        "[[stock]]\n"
        'symbol = "600519.SH"\nname = "Kweichow Moutai"\nmarket = "cn"\nsector = "Beverages"\n'
        'base_price = 1600.5\nvolatility = 0.28\nbase_volume = 12500\ncalendar = "XSHG"\n',
        encoding="utf-8",
    )
    got = load_universe(p)
    assert got == [
        StockMeta("TSLA", "Tesla", "us", "Autos", 250.0, 0.55, 250000.0, "XNYS"),
        StockMeta("600519.SH", "Kweichow Moutai", "cn", "Beverages", 1600.5, 0.28, 12500.0, "XSHG"),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "empty"),
        (
            "symbol,name,market\nA,b,cn\n",
            "missing column(s) sector, base_price, volatility, base_volume",
        ),
        (
            HEADER + "\nA,Alpha,cn,Banks,10,0.2,1000\nB,Beta,cn,Banks,abc,0.2,1000\n",
            "row 3, field 'base_price': must be a number (got 'abc')",
        ),
        (HEADER + "\nA,Alpha,cn,Banks,10,-0.2,1000\n", "row 2, field 'volatility': must be > 0"),
        (HEADER + "\nA,Alpha,cn,Banks,10,0.2,0\n", "row 2, field 'base_volume'"),
        (HEADER + "\nA,Alpha,cn,Banks,10,nan,100\n", "row 2, field 'volatility'"),
        (
            HEADER + "\nA,Alpha,hk,Banks,10,0.2,1000\n",
            "row 2, field 'market': must be cn or us (got 'hk')",
        ),
        (HEADER + "\n,Alpha,cn,Banks,10,0.2,1000\n", "row 2, field 'symbol': missing value"),
        (
            HEADER + "\nA,Alpha,cn,Banks,10,0.2,1000\nA,Again,cn,Banks,10,0.2,1000\n",
            "row 3, field 'symbol': duplicate 'A' (first at row 2)",
        ),
        (
            HEADER + ",calendar\nA,Alpha,cn,Banks,10,0.2,1000,XNYS\n",
            "row 2, field 'calendar': XNYS does not trade market cn",
        ),
        (HEADER + ",calendar\nA,Alpha,cn,Banks,10,0.2,1000,LSE\n", "row 2, field 'calendar'"),
        (HEADER + "\nA,Alpha,cn,Banks,10,0.2,1000,extra\n", "row 2: more fields than the header"),
        (HEADER + "\n", "no stocks"),
    ],
)
def test_csv_errors_name_row_and_field(tmp_path: Path, body: str, message: str) -> None:
    p = write_csv(tmp_path, body)
    with pytest.raises(DataError, match=re.escape(message)) as err:
        load_universe(p)
    assert str(p) in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("stock = 3\n", "expected [[stock]] tables"),
        ("[[stock]]\nsymbol = 'A'\n", "stock[1], field 'name': missing value"),
        (
            "[[stock]]\nsymbol='A'\nname='a'\nmarket='cn'\nsector='s'\nbase_price=1\n"
            "volatility=true\nbase_volume=1\n",
            "stock[1], field 'volatility': must be a number (got True)",
        ),
        ("[[stock\n", "not valid TOML"),
    ],
)
def test_toml_errors(tmp_path: Path, body: str, message: str) -> None:
    p = tmp_path / "u.toml"
    p.write_text(body, encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(message)):
        load_universe(p)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_universe(tmp_path / "nope.csv")
    p = tmp_path / "u.json"
    p.write_text("{}", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape("unsupported type '.json'")):
        load_universe(p)


text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=12,
)
rows = st.fixed_dictionaries(
    {
        "name": text,
        "market": st.sampled_from(["cn", "us"]),
        "sector": text,
        "base_price": st.floats(0.01, 1e5),
        "volatility": st.floats(0.001, 5.0),
        "base_volume": st.floats(1.0, 1e9),
    }
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stocks=st.lists(rows, min_size=1, max_size=5))
def test_csv_round_trip(tmp_path: Path, stocks: list[dict[str, object]]) -> None:
    p = tmp_path / "rt.csv"
    metas = [
        StockMeta(
            symbol=f"S{i}",
            calendar="XSHG" if r["market"] == "cn" else "XNYS",
            **r,  # type: ignore[arg-type]
        )
        for i, r in enumerate(stocks)
    ]
    with p.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for m in metas:
            w.writerow([getattr(m, c) for c in COLUMNS])
    assert load_universe(p) == metas


# -- parameters ----------------------------------------------------------------


def test_params_from_settings() -> None:
    s = load_settings(
        sim_market_correlation=0.4,
        sim_sector_correlation=0.2,
        sim_gap_rate=0.1,
        sim_jump_rate=0.001,
    )
    p = SimulatorParams.from_settings(s)
    assert (p.market_correlation, p.sector_correlation, p.gap_rate, p.jump_rate) == (
        0.4,
        0.2,
        0.1,
        0.001,
    )
    assert SimulatorParams.from_settings(s, regime_switching=False).regime_switching is False
    with pytest.raises(ConfigError, match="unknown simulator parameter"):
        SimulatorParams.from_settings(s, nonsense=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"market_correlation": 1.5},
            "QUANTDESK_SIM_MARKET_CORRELATION: must be between 0 and 1 (got 1.5)",
        ),
        ({"sector_correlation": -0.1}, "QUANTDESK_SIM_SECTOR_CORRELATION: must be between 0 and 1"),
        (
            {"market_correlation": 0.7, "sector_correlation": 0.5},
            "must add up to at most 1 (got 0.7 + 0.5)",
        ),
        ({"gap_rate": 2.0}, "QUANTDESK_SIM_GAP_RATE"),
        ({"jump_rate": -1.0}, "QUANTDESK_SIM_JUMP_RATE"),
        ({"initial_regime": "crash"}, "initial_regime: must be one of bull, sideways, bear"),
        (
            {"transitions": ((0.5, 0.5, 0.5), (0, 1, 0), (0, 0, 1))},
            "row bull must be probabilities",
        ),
        ({"regime_check_min": 0}, "regime_check_min"),
        ({"tick": 0.03}, "tick"),
        ({"book_interval_ms": 7000}, "book_interval_ms"),
    ],
)
def test_invalid_params(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        SimulatorParams(**kwargs)  # type: ignore[arg-type]


def test_default_params_match_the_seed() -> None:
    p = SimulatorParams()
    assert p.transitions == ((0.90, 0.08, 0.02), (0.15, 0.70, 0.15), (0.02, 0.08, 0.90))
    assert p.regime_drift == (0.15, 0.0, -0.15)
    assert p.regime_vol == (1.0, 0.8, 1.5)
    assert (p.regime_check_min, p.regime_check_max) == (30, 120)
    assert p.volume_noise == (0.7, 1.3) and p.volume_floor == 0.3
    assert p.lot("cn") == 100 and p.lot("us") == 1
