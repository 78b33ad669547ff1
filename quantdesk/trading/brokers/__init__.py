"""Brokers by name (``QUANTDESK_BROKER``, default ``paper``); see :mod:`.base`."""

from __future__ import annotations

from quantdesk.plugins import Registry
from quantdesk.trading.brokers.base import Broker, BrokerUpdate, Listener, Quote

__all__ = ["BROKERS", "Broker", "BrokerUpdate", "Listener", "Quote"]

BROKERS: Registry[type[Broker]] = Registry("broker", "QUANTDESK_BROKER")
BROKERS.register("paper", "quantdesk.trading.brokers.paper:PaperBroker")
BROKERS.register("alpaca", "quantdesk.trading.brokers.alpaca:AlpacaBroker")
