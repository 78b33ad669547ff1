"""Market rules as data, one :class:`MarketRules` per market, apart from the account.

=====================  ===========================================  ======================
rule                   ``cn`` (A-shares)                            ``us``
=====================  ===========================================  ======================
settlement             T+1: shares bought on trading day D are      T+0
                       sellable from D+1; cash from a sale is
                       usable for buys the same day
lots                   buys in lots of 100; a sell is whole lots    1 share
                       or includes the whole odd-lot remainder
                       (holding 250: sell 100, 200, 50, 150 or 250)
daily price limits     previous close x (1 +/- pct), rounded half   none
                       up to 0.01: main board 10%, STAR (688/689)
                       and ChiNext (300xxx, 301xxx) 20%, Beijing
                       30%, ST-flagged main-board stocks 5%
                       (settings)
fills                  only inside continuous sessions (9:30-11:30,  9:30-16:00 ET
                       13:00-15:00 Asia/Shanghai)
costs                  :mod:`quantdesk.trading.costs`: commission    zero commission by
                       0.00025 min 5 CNY per order, stamp duty       default, no stamp
                       0.0005 on sells (0.001 before 2023-08-28),    duty, no transfer fee
                       transfer fee 0.00001 both sides
=====================  ===========================================  ======================

**Which trading day an order belongs to.** An order placed inside a session
belongs to that session's day; one placed while the market is closed belongs
to the *next* session's day. So an order placed in the evening of D (or
before the open of D+1) is checked against D+1's sellable quantity, when
D's purchases have become sellable (the failure of akquant #391 is to check
it against D's frozen shares). Limit prices follow the same day: the
previous close is the last close of the day before the order's day, known
when the order is placed (never the whole day's change, which looks ahead).

Not modelled: the STAR market's 200-share minimum with 1-share steps, the
first days of a new listing without limits, the Beijing exchange's own lot
rules, auctions, and US SEC/TAF fees (tiny; add them to :class:`CostModel` if needed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Final

from quantdesk.calendars import ExchangeCalendar, get_calendar
from quantdesk.domain.trading import CENT, Side
from quantdesk.trading.costs import CostModel

if TYPE_CHECKING:
    from quantdesk.config.settings import Settings
    from quantdesk.trading.permissions import PermissionView

__all__ = ["MARKETS", "MarketRules", "PriceBand", "rules_for"]

#: Stamp duty on A-share sells was halved on 2023-08-28.
STAMP_DUTY_CUT: Final = dt.date(2023, 8, 28)
STAMP_DUTY_BEFORE_CUT: Final = Decimal("0.001")
MARKETS: Final = ("cn", "us")
#: (calendar, instant) -> trading day: the same instants come back many times per step.
_DAY_CACHE: dict[tuple[str, int], int] = {}
_SESSION_CACHE: dict[tuple[str, int], bool] = {}
#: (limit fraction, previous close) -> the day's band (see :meth:`MarketRules.price_band`).
_BANDS: dict[tuple[Decimal, Decimal], PriceBand] = {}
_NONE: Final = object()
_DECIMAL_TICKS: Final = frozenset(Decimal(10) ** -k for k in range(5))


@dataclass(frozen=True, slots=True)
class PriceBand:
    """The day's allowed prices ``[low, high]`` (both inclusive)."""

    low: Decimal
    high: Decimal

    def contains(self, price: Decimal) -> bool:
        return self.low <= price <= self.high


@dataclass(frozen=True, slots=True)
class MarketRules:
    """Everything market-specific the paper broker, the ledger and the risk checks use."""

    name: str
    calendar_name: str
    currency: str
    lot_size: int = 1
    settlement_days: int = 0  # 1 = T+1
    tick: Decimal = CENT
    costs: CostModel = field(default_factory=CostModel)
    #: board -> daily limit as a fraction (empty: no price limits).
    board_limits: tuple[tuple[str, Decimal], ...] = ()
    st_limit: Decimal | None = None
    st_symbols: frozenset[str] = frozenset()
    #: the live permission table (board, ST, suspended, delisted); None in backtests
    permissions: PermissionView | None = field(default=None, compare=False, repr=False)
    _pct: dict[str, Decimal | None] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    _cal: dict[int, ExchangeCalendar] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    #: float price -> the price on the tick (see :meth:`round_price`)
    _rounded: dict[float, Decimal] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @property
    def calendar(self) -> ExchangeCalendar:
        cal = self._cal.get(0)
        if cal is None:
            cal = self._cal[0] = get_calendar(self.calendar_name)
        return cal

    # -- boards and price limits ------------------------------------------------

    def board(self, symbol: str) -> str:
        """``star`` (688, 689), ``chinext`` (300, 301), ``bse`` (Beijing: 920, 4xx, 8xx, .BJ)
        or ``main`` for A-shares, by the code (as :mod:`quantdesk.jobs.permission_refresh`
        classifies boards), unless the permission table says otherwise; ``main`` for other
        markets."""
        if self.name != "cn":
            return "main"
        perms = self.permissions
        if perms is not None:
            stored = perms.board(symbol)
            if stored in ("main", "star", "chinext", "bse"):
                return stored
        code = symbol.split(".")[0]
        if code.startswith(("688", "689")):
            return "star"
        if code.startswith(("300", "301")):
            return "chinext"
        if code.startswith(("920", "4", "8")) or symbol.upper().endswith(".BJ"):
            return "bse"
        return "main"

    def limit_pct(self, symbol: str) -> Decimal | None:
        """The symbol's daily limit as a fraction, or None (no limits)."""
        pct = self._pct.get(symbol, _NONE)
        if pct is not _NONE:
            return pct  # type: ignore[return-value]
        if not self.board_limits:
            pct = None
        else:
            board = self.board(symbol)
            limits = dict(self.board_limits)
            if board == "main" and self.st_limit is not None and self.is_st(symbol):
                pct = self.st_limit
            else:
                pct = limits.get(board, limits.get("main"))
        self._pct[symbol] = pct
        return pct

    def is_st(self, symbol: str) -> bool:
        """ST by ``QUANTDESK_ST_SYMBOLS`` or by the permission table."""
        if symbol in self.st_symbols or symbol.split(".")[0] in self.st_symbols:
            return True
        return self.permissions is not None and self.permissions.is_st(symbol)

    def blocked(self, symbol: str) -> str | None:
        """Why ``symbol`` is not tradable now (suspended or delisted), or None."""
        return None if self.permissions is None else self.permissions.blocked(symbol)

    def with_permissions(self, view: PermissionView | None) -> MarketRules:
        """These rules reading ``view`` for boards, ST flags and tradability (live)."""
        rules = replace(self, permissions=view)
        if view is not None:
            view.attach_cache(rules._pct)
        return rules

    def price_band(self, symbol: str, prev_close: Decimal | float | None) -> PriceBand | None:
        """Limit-down and limit-up from the previous close, half up to 0.01; None: unlimited."""
        pct = self.limit_pct(symbol)
        if pct is None or prev_close is None:
            return None
        pc = prev_close if isinstance(prev_close, Decimal) else Decimal(repr(float(prev_close)))
        if pc <= 0:
            return None
        key = (pct, pc)
        band = _BANDS.get(key)
        if band is None:
            high = (pc * (1 + pct)).quantize(CENT, ROUND_HALF_UP)
            low = (pc * (1 - pct)).quantize(CENT, ROUND_HALF_UP)
            if len(_BANDS) > 100_000:
                _BANDS.clear()
            band = _BANDS[key] = PriceBand(low, high)
        return band

    # -- quantities -------------------------------------------------------------

    def quantity_error(self, side: Side, quantity: int, held: int = 0) -> str | None:
        """Why ``quantity`` is not a valid order size (None if it is).

        ``held`` is the position's total quantity (for the odd-lot rule on sells).
        """
        lot = self.lot_size
        if type(quantity) is int and quantity > 0 and (lot <= 1 or quantity % lot == 0):
            return None  # whole lots, at once (the common case)
        return self.quantity_error_in_full(side, quantity, held)

    def quantity_error_in_full(self, side: Side, quantity: int, held: int = 0) -> str | None:
        """:meth:`quantity_error` without its shortcut for whole lots (every check in
        turn; the same answer, tested)."""
        lot = self.lot_size
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            return f"quantity must be a whole number of shares (got {quantity!r})"
        if quantity <= 0:
            return f"quantity must be positive (got {quantity})"
        if lot <= 1 or quantity % lot == 0:
            return None
        if side is Side.BUY:
            return f"buy quantity must be a multiple of {lot} shares (got {quantity})"
        odd = held % lot
        if odd and quantity % lot == odd:
            return None
        return (
            f"sell quantity must be whole lots of {lot} or include the whole odd lot of"
            f" {odd} (got {quantity})"
        )

    def round_lot(self, quantity: float) -> int:
        """``quantity`` rounded down to whole lots."""
        lot = self.lot_size
        return int(quantity // lot) * lot if quantity > 0 else 0

    def round_price(self, value: Decimal | float) -> Decimal:
        """``value`` rounded half up to the tick (a float through its shortest repr).

        Floats are remembered (market data repeats the same prices: a bar's open,
        high, low and close, a book's levels), so the conversion runs once a price.
        """
        cache = self._rounded
        hit = cache.get(value)  # type: ignore[arg-type]  # a Decimal is never a key: no hit
        if hit is not None:
            return hit
        if type(value) is Decimal:
            return self._round(value)
        if len(cache) > 200_000:
            cache.clear()
        rounded = cache[float(value)] = self._round(Decimal(repr(float(value))))
        return rounded

    def _round(self, d: Decimal) -> Decimal:
        if self.tick in _DECIMAL_TICKS:  # 0.01, 0.001 ...: one quantize
            return d.quantize(self.tick, ROUND_HALF_UP)
        return (d / self.tick).quantize(Decimal(1), ROUND_HALF_UP) * self.tick

    # -- days -------------------------------------------------------------------

    def day_of(self, t_ms: int) -> int:
        """Index of the trading day an instant belongs to (the next session's when closed)."""
        key = (self.calendar_name, t_ms)
        day = _DAY_CACHE.get(key)
        if day is None:
            cal = self.calendar
            day = int(cal.day_index[cal.next_segment(t_ms)])
            if len(_DAY_CACHE) > 100_000:
                _DAY_CACHE.clear()
            _DAY_CACHE[key] = day
        return day

    def date_of_day(self, day: int) -> dt.date:
        return self.calendar.days[day]

    def in_session(self, t_ms: int) -> bool:
        """Fills happen only inside continuous sessions."""
        key = (self.calendar_name, t_ms)
        open_ = _SESSION_CACHE.get(key)
        if open_ is None:
            open_ = self.calendar.is_open(t_ms)
            if len(_SESSION_CACHE) > 100_000:
                _SESSION_CACHE.clear()
            _SESSION_CACHE[key] = open_
        return open_


def rules_for(market: str, settings: Settings | None = None) -> MarketRules:
    """The rules of ``cn`` or ``us`` with the figures from ``settings`` (default: loaded)."""
    from quantdesk.config import load_settings
    from quantdesk.errors import ConfigError

    s = settings if settings is not None else load_settings()
    key = market.strip().lower()
    if key == "cn":
        current = Decimal(str(s.stamp_duty))
        return MarketRules(
            name="cn",
            calendar_name="XSHG",
            currency="CNY",
            lot_size=100,
            settlement_days=1,
            costs=CostModel(
                commission_rate=Decimal(str(s.commission_rate)),
                min_commission=Decimal(str(s.min_commission)),
                stamp_duty=((None, STAMP_DUTY_BEFORE_CUT), (STAMP_DUTY_CUT, current)),
                transfer_fee_rate=Decimal(str(s.transfer_fee)),
            ),
            board_limits=(
                ("main", Decimal(str(s.price_limit_main))),
                ("star", Decimal(str(s.price_limit_star))),
                ("chinext", Decimal(str(s.price_limit_chinext))),
                ("bse", Decimal(str(s.price_limit_bse))),
            ),
            st_limit=Decimal(str(s.price_limit_st)),
            st_symbols=frozenset(x.strip() for x in s.st_symbols.split(",") if x.strip()),
        )
    if key == "us":
        return MarketRules(
            name="us",
            calendar_name="XNYS",
            currency="USD",
            costs=CostModel(
                commission_rate=Decimal(str(s.us_commission_rate)),
                min_commission=Decimal(str(s.us_min_commission)),
            ),
        )
    raise ConfigError(f"unknown market {market!r}; known: {', '.join(MARKETS)}")
