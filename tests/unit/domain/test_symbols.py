"""The one symbol resolver: spellings, bare codes, refusals with the nearest names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantdesk.domain.symbols import resolve_symbol
from quantdesk.errors import NotFoundError

CN = ["600036.SH", "600519.SH", "000001.SZ", "000858.SZ", "830799.BJ"]
US = ["AAPL", "BRK.B", "GOOGL"]
KNOWN = CN + US


@pytest.mark.parametrize(
    ("typed", "symbol"),
    [
        ("600036.SH", "600036.SH"),
        ("600036.sh", "600036.SH"),
        (" 600036 ", "600036.SH"),
        ("600036", "600036.SH"),
        ("000001", "000001.SZ"),
        ("830799", "830799.BJ"),
        ("600036.SS", "600036.SH"),
        ("sh600036", "600036.SH"),
        ("SZ000858", "000858.SZ"),
        ("aapl", "AAPL"),
        ("brk-b", "BRK.B"),
        ("Brk.b", "BRK.B"),
    ],
)
def test_spellings_resolve_to_the_stored_symbol(typed: str, symbol: str) -> None:
    assert resolve_symbol(typed, KNOWN) == symbol


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("AAPX", "unknown symbol 'AAPX': did you mean AAPL? (see /api/symbols)"),
        ("600037.SH", "unknown symbol '600037.SH': did you mean 600036.SH"),
        ("600036.SZ", "unknown symbol '600036.SZ': did you mean 600036.SH"),
        ("999999", "unknown symbol '999999': "),
        ("", "unknown symbol '': "),
        ("x" * 100, "unknown symbol 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'...: "),
    ],
)
def test_unknown_symbols_are_refused_with_the_nearest_names(typed: str, message: str) -> None:
    with pytest.raises(NotFoundError) as info:
        resolve_symbol(typed, KNOWN)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_a_code_listed_on_two_exchanges_is_ambiguous() -> None:
    with pytest.raises(NotFoundError, match=r"ambiguous: use one of 000001\.SH, 000001\.SZ"):
        resolve_symbol("000001", ["000001.SH", "000001.SZ"])
    assert resolve_symbol("000001.sz", ["000001.SH", "000001.SZ"]) == "000001.SZ"


def test_nothing_known_says_so() -> None:
    with pytest.raises(NotFoundError, match="no symbols are known yet"):
        resolve_symbol("AAPL", [], hint="see quantdesk universe")


@given(st.text(max_size=40))
def test_total_any_text_resolves_or_is_refused(text: str) -> None:
    try:
        assert resolve_symbol(text, KNOWN) in KNOWN
    except NotFoundError as exc:
        assert "\n" not in str(exc).replace(repr(text)[1:-1], "")


def test_exists_finds_symbols_without_metadata() -> None:
    stored = {"TSM", "688981.SH"}
    asked: list[str] = []

    def exists(symbol: str) -> bool:
        asked.append(symbol)
        return symbol in stored

    assert resolve_symbol("tsm", KNOWN, exists=exists) == "TSM"
    assert resolve_symbol("688981", KNOWN, exists=exists) == "688981.SH"
    assert resolve_symbol("AAPL", KNOWN, exists=exists) == "AAPL" and "AAPL" not in asked
    with pytest.raises(NotFoundError):
        resolve_symbol("NOPE", KNOWN, exists=exists)
