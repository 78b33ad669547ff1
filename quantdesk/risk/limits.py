"""Risk limits: settings at start, changeable at run time (:meth:`RiskEngine.set_limits`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from quantdesk.errors import ConfigError

if TYPE_CHECKING:
    from quantdesk.config.settings import Settings

__all__ = ["RiskLimits"]


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Pre-trade limits. ``max_order_value`` and ``max_orders_per_minute`` 0: no limit.

    =========================  =====================================================
    limit                      an order is denied when
    =========================  =====================================================
    max_order_value            quantity x price exceeds it
    max_position_weight        (buys) the position's value after it exceeds this
                               fraction of equity
    max_gross_exposure         (buys) all positions' value after it exceed this
                               multiple of equity
    max_orders_per_minute      this many orders were accepted in the last 60 s
    daily_loss_limit           the loss since the day's first equity reached this
                               fraction: the state becomes REDUCING until the next day
    drawdown_alert             (alert only) drawdown from the peak reached this fraction
    =========================  =====================================================
    """

    max_order_value: Decimal = Decimal("1000000")
    max_position_weight: float = 1.0
    max_gross_exposure: float = 1.0
    max_orders_per_minute: int = 600
    daily_loss_limit: float = 0.05
    drawdown_alert: float = 0.10

    def __post_init__(self) -> None:
        _check(self)

    @classmethod
    def from_settings(cls, settings: Settings) -> RiskLimits:
        return cls(
            max_order_value=settings.risk_max_order_value,
            max_position_weight=settings.risk_max_position_weight,
            max_gross_exposure=settings.risk_max_gross_exposure,
            max_orders_per_minute=settings.risk_max_orders_per_minute,
            daily_loss_limit=settings.risk_daily_loss_limit,
            drawdown_alert=settings.risk_drawdown_alert,
        )

    def updated(self, **changes: Any) -> RiskLimits:
        """A copy with ``changes``; an unknown name or a bad value raises ConfigError."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(
                f"unknown risk limit {unknown[0]!r}; known: {', '.join(sorted(known))}"
            )
        if "max_order_value" in changes and not isinstance(changes["max_order_value"], Decimal):
            try:
                changes["max_order_value"] = Decimal(str(changes["max_order_value"]))
            except ArithmeticError:
                raise ConfigError(
                    f"max_order_value must be a number (got {changes['max_order_value']!r})"
                ) from None
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["max_order_value"] = float(self.max_order_value)
        return d


def _check(limits: RiskLimits) -> None:
    v = limits.max_order_value
    if not isinstance(v, Decimal) or not v.is_finite() or v < 0:
        raise ConfigError(f"max_order_value must be a number >= 0 (got {v!r})")
    for name in ("max_position_weight", "daily_loss_limit", "drawdown_alert"):
        x = getattr(limits, name)
        if isinstance(x, bool) or not isinstance(x, int | float) or not 0 < x <= 1:
            raise ConfigError(f"{name} must be > 0 and <= 1 (got {x!r})")
    x = limits.max_gross_exposure
    if isinstance(x, bool) or not isinstance(x, int | float) or not 0 < x <= 10:
        raise ConfigError(f"max_gross_exposure must be > 0 and <= 10 (got {x!r})")
    n = limits.max_orders_per_minute
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigError(f"max_orders_per_minute must be a whole number >= 0 (got {n!r})")
