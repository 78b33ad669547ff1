"""The paper broker (``QUANTDESK_BROKER=paper``, the default)."""

from quantdesk.trading.brokers.paper.broker import PaperBroker

__all__ = ["PaperBroker"]
