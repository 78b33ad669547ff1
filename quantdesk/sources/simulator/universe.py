"""Stock universes: the preset A-share and US lists, and loading one from CSV or TOML.

A universe file has one stock per row (CSV, with a header) or per ``[[stock]]``
table (TOML). Columns / keys:

============  ========  ===================================================
column        required  meaning
============  ========  ===================================================
symbol        yes       code, e.g. ``600036.SH`` or ``AAPL`` (unique)
name          yes       display name
market        yes       ``cn`` (A-shares) or ``us``
sector        yes       sector name; stocks of one sector share a factor
base_price    yes       starting price (> 0)
volatility    yes       annualised base volatility, e.g. ``0.25`` (0 < v <= 5)
base_volume   yes       base volume per minute in shares (> 0)
calendar      no        ``XSHG`` / ``XSHE`` / ``XNYS``; default from market
============  ========  ===================================================

Bad input raises :class:`~quantdesk.errors.DataError` naming the file, the
row (CSV: line number; TOML: ``stock[i]``, 1-based) and the field.
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from quantdesk.calendars.sessions import ALIASES, MARKET_CALENDARS
from quantdesk.domain.messages import StockMeta
from quantdesk.errors import DataError

COLUMNS: Final = (
    "symbol",
    "name",
    "market",
    "sector",
    "base_price",
    "volatility",
    "base_volume",
    "calendar",
)
_REQUIRED: Final = COLUMNS[:-1]
_CALENDARS: Final = {"XSHG", "XNYS"}

# symbol, name, sector, base price, annual volatility, base volume per minute (shares).
# Prices and volumes are rounded, realistic magnitudes (daily volume / 240 or / 390).
_CN: Final = (
    ("600036.SH", "China Merchants Bank", "Banks", 35.0, 0.25, 250_000.0),
    ("600519.SH", "Kweichow Moutai", "Beverages", 1600.0, 0.28, 12_500.0),
    ("000001.SZ", "Ping An Bank", "Banks", 11.0, 0.27, 420_000.0),
    ("000858.SZ", "Wuliangye Yibin", "Beverages", 140.0, 0.32, 62_500.0),
    ("601318.SH", "Ping An Insurance", "Insurance", 45.0, 0.28, 210_000.0),
    ("600000.SH", "Shanghai Pudong Development Bank", "Banks", 8.5, 0.22, 170_000.0),
    ("000333.SZ", "Midea Group", "Household Appliances", 65.0, 0.28, 100_000.0),
    ("002594.SZ", "BYD", "Automobiles", 250.0, 0.38, 50_000.0),
    ("601398.SH", "Industrial and Commercial Bank of China", "Banks", 5.5, 0.18, 1_250_000.0),
    ("600276.SH", "Jiangsu Hengrui Pharmaceuticals", "Pharmaceuticals", 45.0, 0.32, 125_000.0),
)
_US: Final = (
    ("AAPL", "Apple Inc.", "Technology", 190.0, 0.25, 140_000.0),
    ("TSLA", "Tesla Inc.", "Automobiles", 250.0, 0.55, 250_000.0),
    ("MSFT", "Microsoft Corp.", "Technology", 420.0, 0.24, 50_000.0),
    ("GOOGL", "Alphabet Inc. Class A", "Communication Services", 170.0, 0.28, 65_000.0),
    ("AMZN", "Amazon.com Inc.", "Consumer Discretionary", 185.0, 0.30, 100_000.0),
    ("NVDA", "NVIDIA Corp.", "Technology", 120.0, 0.50, 750_000.0),
    ("META", "Meta Platforms Inc.", "Communication Services", 500.0, 0.35, 40_000.0),
    ("JPM", "JPMorgan Chase & Co.", "Financials", 200.0, 0.22, 23_000.0),
    ("JNJ", "Johnson & Johnson", "Health Care", 155.0, 0.16, 18_000.0),
    ("XOM", "Exxon Mobil Corp.", "Energy", 115.0, 0.24, 40_000.0),
)


def default_universe(market: str) -> list[StockMeta]:
    """The 10 preset stocks of ``market`` (``cn``: A-shares on XSHG, ``us``: XNYS)."""
    rows = {"cn": _CN, "us": _US}.get(market)
    if rows is None:
        raise DataError(f"unknown market {market!r}: use 'cn' (A-shares) or 'us'")
    cal = MARKET_CALENDARS[market]
    return [
        StockMeta(
            symbol=s,
            name=n,
            market=market,
            sector=sec,
            base_price=p,
            volatility=v,
            base_volume=vol,
            calendar=cal,
        )
        for s, n, sec, p, v, vol in rows
    ]


def load_universe(path: str | Path) -> list[StockMeta]:
    """Read a universe from a ``.csv`` or ``.toml`` file (columns in the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"universe file {p} does not exist")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        rows = _read_csv(p)
    elif suffix == ".toml":
        rows = _read_toml(p)
    else:
        raise DataError(f"universe file {p}: unsupported type {suffix!r}; use .csv or .toml")
    if not rows:
        raise DataError(f"universe file {p}: no stocks in it")
    out: list[StockMeta] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        meta = _parse_row(p, where, row)
        if meta.symbol in seen:
            raise DataError(
                f"universe file {p} {where}, field 'symbol': duplicate {meta.symbol!r} "
                f"(first at {seen[meta.symbol]})"
            )
        seen[meta.symbol] = where
        out.append(meta)
    return out


def _read_csv(p: Path) -> list[tuple[str, Mapping[str, Any]]]:
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"universe file {p}: cannot read it ({exc})") from exc
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise DataError(f"universe file {p}: empty, expected a header {','.join(_REQUIRED)}")
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise DataError(
            f"universe file {p}: missing column(s) {', '.join(missing)} "
            f"(header has {', '.join(header)})"
        )
    rows: list[tuple[str, Mapping[str, Any]]] = []
    for raw in reader:
        line = reader.line_num
        if None in raw:
            raise DataError(f"universe file {p} row {line}: more fields than the header")
        row = {(k or "").strip(): v for k, v in raw.items()}
        if all(v is None or not str(v).strip() for v in row.values()):
            continue
        rows.append((f"row {line}", row))
    return rows


def _read_toml(p: Path) -> list[tuple[str, Mapping[str, Any]]]:
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"universe file {p}: cannot read it ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"universe file {p}: not valid TOML ({exc})") from exc
    stocks = data.get("stock", data.get("stocks"))
    if not isinstance(stocks, list):
        raise DataError(f"universe file {p}: expected [[stock]] tables, one per stock")
    rows: list[tuple[str, Mapping[str, Any]]] = []
    for i, item in enumerate(stocks, start=1):
        if not isinstance(item, dict):
            raise DataError(f"universe file {p} stock[{i}]: expected a table")
        rows.append((f"stock[{i}]", item))
    return rows


def _parse_row(p: Path, where: str, row: Mapping[str, Any]) -> StockMeta:
    def fail(name: str, msg: str) -> DataError:
        return DataError(f"universe file {p} {where}, field {name!r}: {msg}")

    def text(name: str, required: bool = True) -> str:
        v = row.get(name)
        s = "" if v is None else str(v).strip()
        if required and not s:
            raise fail(name, "missing value")
        return s

    def number(name: str, lo: float, hi: float, lo_open: bool = True) -> float:
        raw = row.get(name)
        if isinstance(raw, bool):
            raise fail(name, f"must be a number (got {raw!r})")
        try:
            v = float(str(raw).strip()) if isinstance(raw, str) else float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise fail(name, f"must be a number (got {raw!r})") from None
        ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi
        if not ok:
            raise fail(name, f"must be > {lo} and <= {hi:g} (got {raw!r})")
        return v

    symbol, name = text("symbol"), text("name")
    market = text("market").lower()
    if market not in MARKET_CALENDARS:
        raise fail("market", f"must be cn or us (got {row.get('market')!r})")
    sector = text("sector")
    base_price = number("base_price", 0.0, 1e7)
    volatility = number("volatility", 0.0, 5.0)
    base_volume = number("base_volume", 0.0, 1e12)
    calendar = text("calendar", required=False).upper() or MARKET_CALENDARS[market]
    canonical = ALIASES.get(calendar, calendar)
    if canonical not in _CALENDARS:
        raise fail("calendar", f"must be XSHG, XSHE or XNYS (got {row.get('calendar')!r})")
    if canonical != MARKET_CALENDARS[market]:
        raise fail("calendar", f"{calendar} does not trade market {market}")
    return StockMeta(
        symbol=symbol,
        name=name,
        market=market,
        sector=sector,
        base_price=base_price,
        volatility=volatility,
        base_volume=base_volume,
        calendar=calendar,
    )
