"""Symbol conventions of the history providers.

quantdesk's canonical symbols are ``<code>.SH`` (Shanghai), ``<code>.SZ``
(Shenzhen), ``<code>.BJ`` (Beijing) for A-shares and the plain ticker for US
stocks (``AAPL``). Each provider spells them its own way:

=============  ===========  ================  ===========  ===========  ==========
canonical      Yahoo        AkShare           Eastmoney    Tushare      Finnhub /
                            (``symbol``)      ``secid``                 Alpha V.
=============  ===========  ================  ===========  ===========  ==========
``600036.SH``  600036.SS    sh600036          1.600036     600036.SH    (no)
``000001.SZ``  000001.SZ    sz000001          0.000001     000001.SZ    (no)
``830799.BJ``  830799.BJ    bj830799          0.830799     830799.BJ    (no)
``AAPL``       AAPL         (no)              (no)         (no)         AAPL
``BRK.B``      BRK-B        (no)              (no)         (no)         BRK.B
=============  ===========  ================  ===========  ===========  ==========

``from_*`` functions map back; an unknown spelling raises
:class:`~quantdesk.errors.DataError`.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from quantdesk.errors import DataError

Market = Literal["cn", "us"]

_CN: Final = re.compile(r"^(\d{6})\.(SH|SZ|BJ|SS)$", re.IGNORECASE)
_PREFIXED: Final = re.compile(r"^(sh|sz|bj)(\d{6})$", re.IGNORECASE)
_SECID: Final = re.compile(r"^([01])\.(\d{6})$")
_US: Final = re.compile(r"^[A-Z][A-Z0-9]{0,5}([.-][A-Z])?$")
#: Eastmoney market ids: 1 = Shanghai, 0 = Shenzhen and Beijing.
_SECID_MARKET: Final = {"SH": "1", "SZ": "0", "BJ": "0"}


def split_cn(symbol: str) -> tuple[str, str] | None:
    """``("600036", "SH")`` for an A-share symbol (``.SS`` read as ``.SH``), else None."""
    m = _CN.match(symbol.strip())
    if m is None:
        return None
    exchange = m.group(2).upper()
    return m.group(1), "SH" if exchange == "SS" else exchange


def market_of(symbol: str) -> Market:
    """``cn`` for an A-share symbol, ``us`` for a ticker; DataError otherwise."""
    if split_cn(symbol) is not None:
        return "cn"
    if _US.match(symbol.strip().upper()):
        return "us"
    raise DataError(f"unknown symbol {symbol!r}: use 600036.SH / 000001.SZ or a US ticker (AAPL)")


def canonical(symbol: str) -> str:
    """The canonical spelling of any supported spelling (``sh600036`` -> ``600036.SH``)."""
    s = symbol.strip()
    cn = split_cn(s)
    if cn is not None:
        return f"{cn[0]}.{cn[1]}"
    m = _PREFIXED.match(s)
    if m is not None:
        return f"{m.group(2)}.{m.group(1).upper()}"
    m = _SECID.match(s)
    if m is not None:
        raise DataError(f"ambiguous Eastmoney secid {symbol!r}: use from_secid(secid, exchange)")
    up = s.upper()
    if _US.match(up):
        return up.replace("-", ".")
    raise DataError(f"unknown symbol {symbol!r}: use 600036.SH / 000001.SZ or a US ticker (AAPL)")


def _cn(symbol: str, provider: str) -> tuple[str, str]:
    cn = split_cn(canonical(symbol))
    if cn is None:
        raise DataError(f"{provider} serves A-shares only (got {symbol!r})")
    return cn


def to_yahoo(symbol: str) -> str:
    """``600036.SH`` -> ``600036.SS``; ``BRK.B`` -> ``BRK-B``; others unchanged."""
    cs = canonical(symbol)
    cn = split_cn(cs)
    if cn is not None:
        return f"{cn[0]}.{'SS' if cn[1] == 'SH' else cn[1]}"
    return cs.replace(".", "-")


def from_yahoo(symbol: str) -> str:
    return canonical(symbol)


def to_akshare(symbol: str) -> str:
    """``600036.SH`` -> ``sh600036`` (AkShare's and Sina's prefix form)."""
    code, exchange = _cn(symbol, "AkShare")
    return f"{exchange.lower()}{code}"


def from_akshare(symbol: str) -> str:
    m = _PREFIXED.match(symbol.strip())
    if m is None:
        raise DataError(f"not an AkShare symbol: {symbol!r} (expected e.g. sh600036)")
    return f"{m.group(2)}.{m.group(1).upper()}"


def to_secid(symbol: str) -> str:
    """``600036.SH`` -> ``1.600036`` (Eastmoney ``secid``: market id, dot, code)."""
    code, exchange = _cn(symbol, "Eastmoney")
    return f"{_SECID_MARKET[exchange]}.{code}"


def from_secid(secid: str, exchange: str | None = None) -> str:
    """``1.600036`` -> ``600036.SH``; market 0 is Shenzhen unless ``exchange`` says BJ."""
    m = _SECID.match(secid.strip())
    if m is None:
        raise DataError(f"not an Eastmoney secid: {secid!r} (expected e.g. 1.600036)")
    if m.group(1) == "1":
        return f"{m.group(2)}.SH"
    return f"{m.group(2)}.{(exchange or 'SZ').upper()}"


def to_tushare(symbol: str) -> str:
    code, exchange = _cn(symbol, "Tushare")
    return f"{code}.{exchange}"


def from_tushare(symbol: str) -> str:
    return canonical(symbol)


def to_us(symbol: str, provider: str) -> str:
    """The plain US ticker (Alpha Vantage, Finnhub); DataError for an A-share."""
    cs = canonical(symbol)
    if split_cn(cs) is not None:
        raise DataError(f"{provider} serves US stocks only here (got {symbol!r})")
    return cs
