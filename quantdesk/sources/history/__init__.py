"""History providers with failover (seed C): bars from real data vendors.

``quantdesk backfill --source auto`` asks the providers of
``QUANTDESK_HISTORY_SOURCES`` in order (default ``akshare, yahoo,
alphavantage, tushare, finnhub, local``) through
:class:`~quantdesk.sources.history.router.HistoryRouter`; ``--source NAME``
asks one. Each answer is validated (not empty, time strictly increasing,
``low <= open, close <= high``, volume >= 0, no close-to-close jump above
``QUANTDESK_HISTORY_MAX_JUMP`` = 50 %); a failure or a bad answer falls over
to the next provider with one log line saying why. Stored rows carry the
provider's name in ``source``; fetched 1m bars are rolled up to 5m ... 1d
with the exchange calendar.

============  =======  =======  =================================  ============================
name          markets  timeout  credentials (environment)          base URL (``QUANTDESK_...``)
============  =======  =======  =================================  ============================
akshare       cn       5 s      none (Eastmoney public kline API)  ``EASTMONEY_URL``
yahoo         cn, us   10 s     none (Yahoo chart API)             ``YAHOO_URL``
alphavantage  us       15 s     ``QUANTDESK_ALPHAVANTAGE_KEY``     ``ALPHAVANTAGE_URL``
tushare       cn       10 s     ``QUANTDESK_TUSHARE_TOKEN``        ``TUSHARE_URL``
finnhub       us       10 s     ``FINNHUB_TOKEN``                  ``FINNHUB_REST_URL``
local         cn, us   30 s     none (files)                       ``HISTORY_DIR`` (a folder)
============  =======  =======  =================================  ============================

Timeouts can be changed per provider: ``QUANTDESK_HISTORY_TIMEOUTS='{"yahoo": 5}'``.
Symbol conventions are mapped in :mod:`quantdesk.sources.history.symbols`.

Using each provider with a real account
---------------------------------------
* **akshare** (Eastmoney): no account. Works from anywhere Eastmoney is
  reachable; it keeps only the last few trading days of 1m bars (older
  history: use ``--interval``-free daily data or another source). quantdesk
  calls the HTTP endpoint AkShare wraps; the ``akshare`` package is not needed.
* **yahoo**: no account. Yahoo limits requests per IP (HTTP 429 when
  exceeded) and keeps 1m bars for about 30 days; A-shares are ``600036.SS`` /
  ``000001.SZ`` there (mapped automatically).
* **alphavantage**: get a free key at https://www.alphavantage.co/support/#api-key,
  then ``export QUANTDESK_ALPHAVANTAGE_KEY=...``. The free key allows 25 calls
  a day; intraday history is fetched one month per call (at most 3 months per
  backfill request).
* **tushare**: register at https://tushare.pro, copy the token from your
  profile page, ``export QUANTDESK_TUSHARE_TOKEN=...``. Daily bars need 120
  points; minute bars (``stk_mins``) need the separate minute permission.
* **finnhub**: sign up at https://finnhub.io, ``export FINNHUB_TOKEN=...``.
  ``/stock/candle`` is a premium endpoint on current plans (free keys get
  HTTP 403, reported and skipped by the router).
* **local**: put ``<symbol>_<interval>.csv`` (the format ``quantdesk export
  --format csv`` and the live CSV exporter write) or ``.parquet`` under
  ``<dir>/<interval>/``.

Secrets are read from the environment or ``.env`` only and never logged.
"""

from quantdesk.sources.history.base import (
    DEFAULT_ORDER,
    HISTORY_PROVIDERS,
    HistoryProvider,
    HttpProvider,
    ProviderError,
    create_provider,
    provider_class,
    provider_names,
    register_provider,
)
from quantdesk.sources.history.router import (
    FetchResult,
    HistoryRouter,
    NoHistoryError,
    validate_bars,
)

__all__ = [
    "DEFAULT_ORDER",
    "HISTORY_PROVIDERS",
    "FetchResult",
    "HistoryProvider",
    "HistoryRouter",
    "HttpProvider",
    "NoHistoryError",
    "ProviderError",
    "create_provider",
    "provider_class",
    "provider_names",
    "register_provider",
    "validate_bars",
]
