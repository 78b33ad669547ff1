"""The Alpaca broker (``QUANTDESK_BROKER=alpaca``): Alpaca's paper trading API."""

from quantdesk.trading.brokers.alpaca.broker import AlpacaBroker

__all__ = ["AlpacaBroker"]
