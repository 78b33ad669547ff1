"""Finnhub live trades (US stocks): WebSocket stream, REST gap fill, ingest runner.

Using it with a real account
============================

1. Get a free API token at https://finnhub.io and export it (never put it in
   ``quantdesk.toml``; ``.env`` in the working directory also works)::

       export FINNHUB_TOKEN=your-token

2. Stream some symbols into the configured store (``QUANTDESK_DATABASE_URL``,
   default SQLite under ``data/``) until Ctrl-C, with the API and the live
   dashboard (or without: ``quantdesk ingest finnhub --symbols ...``)::

       quantdesk run --source finnhub --symbols AAPL,GOOGL,TSLA

   Add ``--market-hours`` (or ``QUANTDESK_FINNHUB_MARKET_HOURS=true``) to connect
   only while the NYSE (XNYS calendar) is open.

Settings (environment ``QUANTDESK_*``):

============================================  ============================  =====================
variable                                      default                       meaning
============================================  ============================  =====================
``FINNHUB_TOKEN``                             (required)                    API token (secret)
``QUANTDESK_FINNHUB_WS_URL``                  ``wss://ws.finnhub.io``       WebSocket URL
``QUANTDESK_FINNHUB_REST_URL``                ``https://finnhub.io/api/v1`` REST base URL
``QUANTDESK_FINNHUB_BACKOFF_BASE``            1.0                           first reconnect delay
``QUANTDESK_FINNHUB_BACKOFF_MAX``             60.0                          largest delay
``QUANTDESK_FINNHUB_SILENCE_SECONDS``         30.0                          dead after this silence
``QUANTDESK_FINNHUB_HEARTBEAT_SECONDS``       1.0                           clock heartbeat period
``QUANTDESK_FINNHUB_REST_SETTLE_SECONDS``     15.0                          wait before a candle
``QUANTDESK_FINNHUB_REST_TIMEOUT``            10.0                          REST request timeout
``QUANTDESK_FINNHUB_MARKET_HOURS``            false                         XNYS market-hours gate
============================================  ============================  =====================

The token travels only in the connection URL and the candle query string;
it is never logged (a redaction filter guards our loggers, ``websockets`` and
``httpx``). A missing token is ``ConfigError: FINNHUB_TOKEN: not set ...``.

What lands in the store
=======================

Bars of every interval, session-anchored on XNYS, as for the simulator.
``source`` says where a bar came from:

* ``finnhub``: built from live trades (exact VWAP and trade count);
* ``finnhub:rest``: a minute that a disconnect touched (reconnect, silent
  connection, the minute the process started in) was replaced by Finnhub's
  complete 1-minute candle; its VWAP is **estimated** as ``(h + l + c) / 3``
  and its trade count is 0. A larger bar containing such a minute is rolled
  up from the 1m bars and carries ``finnhub:rest`` too.

The rule that guarantees no missing and no double-counted minute is in
:mod:`quantdesk.sources.finnhub.source` (dropping live trades of touched
minutes, REST candles instead; after a restart, everything since the last
checkpoint is a gap) and :mod:`quantdesk.sources.finnhub.gaps` (how the store
is updated).

Modules: :mod:`.protocol` (message parsing), :mod:`.client` (WebSocket loop,
back-off, silence), :mod:`.candles` (REST), :mod:`.source` (the streaming
live source), :mod:`.gaps` (the REST-aware sink). It runs through the one
runner (:mod:`quantdesk.runtime.runner`): ``quantdesk run --source finnhub``
(with the API and the live dashboard) or ``quantdesk ingest finnhub`` (without).
"""

from quantdesk.sources.finnhub.gaps import RestAwareSink
from quantdesk.sources.finnhub.protocol import SOURCE_LIVE, SOURCE_REST
from quantdesk.sources.finnhub.source import FinnhubSource, finnhub_token, parse_symbols

__all__ = [
    "SOURCE_LIVE",
    "SOURCE_REST",
    "FinnhubSource",
    "RestAwareSink",
    "finnhub_token",
    "parse_symbols",
]
