"""Risk: pre-trade checks, trading states (ACTIVE/REDUCING/HALTED) and alerts."""

from quantdesk.risk.engine import AlertListener, Exposure, RiskEngine
from quantdesk.risk.limits import RiskLimits

__all__ = ["AlertListener", "Exposure", "RiskEngine", "RiskLimits"]
