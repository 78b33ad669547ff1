"""Simulator parameters (:class:`SimulatorParams`) and the regime tables of seed D."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Final

from quantdesk.errors import ConfigError

if TYPE_CHECKING:
    from quantdesk.config.settings import Settings

#: Regime names; a regime's index in this tuple is its code in the model arrays.
REGIMES: Final = ("bull", "sideways", "bear")
BULL: Final = 0
SIDEWAYS: Final = 1
BEAR: Final = 2

#: Seed D's transition matrix, rows = from, columns = to, order bull, sideways, bear.
TRANSITIONS: Final = (
    (0.90, 0.08, 0.02),
    (0.15, 0.70, 0.15),
    (0.02, 0.08, 0.90),
)
#: Annualised drift of each regime (bull +15 %, sideways 0, bear -15 %).
REGIME_DRIFT: Final = (0.15, 0.0, -0.15)
#: Multiplier on a stock's base volatility in each regime.
REGIME_VOL: Final = (1.0, 0.8, 1.5)
#: Multiplier on volume in each regime (bear markets trade more; seed D's future work).
REGIME_VOLUME: Final = (1.0, 1.0, 1.3)

#: Regular session minutes per trading day, by calendar (dt = 1 / (252 * this)).
SESSION_MINUTES: Final = {"XSHG": 240, "XNYS": 390}
#: Shares per lot, by market: A-shares trade in board lots of 100, US in whole shares.
LOT_SIZE: Final = {"cn": 100, "us": 1}

#: Settings field -> params field, for :meth:`SimulatorParams.from_settings`.
_FROM_SETTINGS: Final = {
    "sim_market_correlation": "market_correlation",
    "sim_sector_correlation": "sector_correlation",
    "sim_gap_rate": "gap_rate",
    "sim_jump_rate": "jump_rate",
    "sim_planted_beta": "planted_beta",
}
_SETTING_OF: Final = {v: "QUANTDESK_" + k.upper() for k, v in _FROM_SETTINGS.items()}


def _tuple3(x: Any) -> tuple[float, float, float]:
    return (float(x[0]), float(x[1]), float(x[2]))


@dataclass(frozen=True, slots=True)
class SimulatorParams:
    """Every knob of the market model; defaults are documented in the package docstring.

    Invalid values raise :class:`~quantdesk.errors.ConfigError` naming the
    setting (``QUANTDESK_SIM_...`` where one exists, else the field).
    """

    market_correlation: float = 0.5
    sector_correlation: float = 0.3
    gap_rate: float = 0.05
    gap_sigma: float = 0.02
    jump_rate: float = 0.0005
    jump_sigma: float = 0.01
    regime_switching: bool = True
    initial_regime: str = "sideways"
    transitions: tuple[tuple[float, float, float], ...] = TRANSITIONS
    regime_drift: tuple[float, float, float] = REGIME_DRIFT
    regime_vol: tuple[float, float, float] = REGIME_VOL
    regime_volume: tuple[float, float, float] = REGIME_VOLUME
    regime_check_min: int = 30
    regime_check_max: int = 120
    trading_days_per_year: int = 252
    volume_change_factor: float = 10.0
    volume_noise: tuple[float, float] = (0.7, 1.3)
    volume_floor: float = 0.3
    intraday_u: float = 2.0
    trades_per_minute: float = 40.0
    tick: float = 0.01
    book_interval_ms: int = 3000
    book_levels: int = 5
    spread_bps: float = 2.0
    book_depth: float = 0.2
    lot_sizes: dict[str, int] = field(default_factory=lambda: dict(LOT_SIZE))
    #: control for the models: each day opens ``planted_beta`` x the previous morning's
    #: log return away from the previous close (0 = off, the default)
    planted_beta: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "transitions", tuple(_tuple3(r) for r in self.transitions))
        for name in ("regime_drift", "regime_vol", "regime_volume"):
            object.__setattr__(self, name, _tuple3(getattr(self, name)))
        self._validate()

    # -- validation ----------------------------------------------------------

    def _fail(self, name: str, msg: str) -> ConfigError:
        return ConfigError(f"{_SETTING_OF.get(name, 'simulator parameter ' + name)}: {msg}")

    def _validate(self) -> None:
        for name in ("market_correlation", "sector_correlation", "gap_rate", "jump_rate"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise self._fail(name, f"must be between 0 and 1 (got {v})")
        if self.market_correlation + self.sector_correlation > 1.0 + 1e-12:
            raise ConfigError(
                "QUANTDESK_SIM_MARKET_CORRELATION + QUANTDESK_SIM_SECTOR_CORRELATION: shares of "
                f"variance must add up to at most 1 (got {self.market_correlation} + "
                f"{self.sector_correlation})"
            )
        for name in ("gap_sigma", "jump_sigma", "volume_change_factor", "intraday_u"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise self._fail(name, f"must be >= 0 (got {v})")
        for name in ("tick", "trades_per_minute", "spread_bps", "book_depth"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise self._fail(name, f"must be > 0 (got {v})")
        if not (math.isfinite(self.planted_beta) and -1.0 <= self.planted_beta <= 1.0):
            raise self._fail("planted_beta", f"must be between -1 and 1 (got {self.planted_beta})")
        if self.initial_regime not in REGIMES:
            got = self.initial_regime
            raise self._fail("initial_regime", f"must be one of {', '.join(REGIMES)} (got {got!r})")
        if len(self.transitions) != 3:
            raise self._fail("transitions", "must have 3 rows (bull, sideways, bear)")
        for i, row in enumerate(self.transitions):
            if min(row) < 0 or abs(sum(row) - 1.0) > 1e-9:
                raise self._fail(
                    "transitions", f"row {REGIMES[i]} must be probabilities adding to 1 (got {row})"
                )
        if min(self.regime_vol) <= 0 or min(self.regime_volume) <= 0:
            raise self._fail("regime_vol", "volatility and volume multipliers must be > 0")
        if not 1 <= self.regime_check_min <= self.regime_check_max:
            raise self._fail(
                "regime_check_min",
                f"need 1 <= min <= max (got {self.regime_check_min}, {self.regime_check_max})",
            )
        lo, hi = self.volume_noise
        if not 0 < lo <= hi:
            raise self._fail("volume_noise", f"need 0 < low <= high (got {lo}, {hi})")
        if not self.volume_floor >= 0:
            raise self._fail("volume_floor", f"must be >= 0 (got {self.volume_floor})")
        if abs(self.ticks_per_unit * self.tick - 1.0) > 1e-9:
            raise self._fail("tick", f"must be 1 / an integer, e.g. 0.01 (got {self.tick})")
        if self.trading_days_per_year < 1:
            raise self._fail("trading_days_per_year", "must be >= 1")
        if self.book_levels < 1 or self.book_interval_ms < 1 or 60_000 % self.book_interval_ms:
            raise self._fail(
                "book_interval_ms", "need >= 1 level and an interval that divides one minute"
            )
        if any(v < 1 for v in self.lot_sizes.values()):
            raise self._fail("lot_sizes", f"lots must be >= 1 share (got {self.lot_sizes})")

    # -- construction --------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> SimulatorParams:
        """Params from :class:`~quantdesk.config.settings.Settings` (``sim_*``), plus overrides."""
        kwargs: dict[str, Any] = {p: getattr(settings, s) for s, p in _FROM_SETTINGS.items()}
        kwargs.update(overrides)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ConfigError(f"unknown simulator parameter(s): {', '.join(unknown)}")
        return cls(**kwargs)

    # -- derived -------------------------------------------------------------

    def lot(self, market: str) -> int:
        """Shares per lot on ``market`` (1 when unknown)."""
        return int(self.lot_sizes.get(market, 1))

    @property
    def ticks_per_unit(self) -> int:
        """``1 / tick`` as an integer (prices are ``ticks / ticks_per_unit``)."""
        return round(1.0 / self.tick)
