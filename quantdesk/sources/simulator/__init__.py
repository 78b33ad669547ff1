"""The built-in market simulator (seed D, with its flaws fixed and its future work done).

One model, two outputs: :func:`generate_history` (1-minute bars, vectorised
with NumPy across stocks and minutes) and :class:`MarketSimulator` (live
trades and L1-L5 book snapshots in event-time order). Both are deterministic
for a seed and continue from stored :class:`~quantdesk.domain.StockState`.

Price model
-----------
Geometric Brownian motion per stock, one step per session minute::

    log S[t+1] = log S[t] + (mu_r - sigma_r^2 / 2) dt + sigma_r sqrt(dt) z + J

* ``dt`` is one minute in **years**: ``1 / (252 * 240)`` for A-shares
  (XSHG, 240 session minutes a day) and ``1 / (252 * 390)`` for US (XNYS).
  Seed D's ``dt = 1/240`` with annual parameters was wrong by a factor 252.
* ``mu_r`` and ``sigma_r`` come from the stock's Markov regime ``r``:

  ========  =============  ==========================  ===============
  regime    drift mu_r     volatility sigma_r          volume factor
  ========  =============  ==========================  ===============
  bull      +15 % / year   1.0 x base volatility       1.0
  sideways  0              0.8 x base volatility       1.0
  bear      -15 % / year   1.5 x base volatility       1.3
  ========  =============  ==========================  ===============

  The base volatility is the stock's ``StockMeta.volatility`` (annualised).
  The log return's mean is ``mu_r - sigma_r^2/2`` per year (GBM: ``mu_r`` is
  the drift of the price, ``E[S_t] = S_0 e^{mu t}``).
* Regimes: every stock starts ``sideways`` (``initial_regime``) and is checked
  after a random 30-120 trading minutes (uniform integers, counted in
  simulated minutes, so they carry over nights). A check draws the next
  regime from seed D's matrix (rows from, columns to)::

              bull   sideways  bear
    bull      0.90   0.08      0.02
    sideways  0.15   0.70      0.15
    bear      0.02   0.08      0.90

  ``regime_switching=False`` freezes every stock in its regime (for tests).
* Co-movement: ``z = sqrt(a) M + sqrt(b) G_sector + sqrt(1 - a - b) e`` with
  independent standard normals for the market ``M``, each sector ``G`` and
  each stock ``e``; ``a = sim_market_correlation`` (default 0.5) and
  ``b = sim_sector_correlation`` (default 0.3) are **shares of variance**:
  two stocks' shocks correlate ``a`` across sectors and ``a + b`` within one.
  Both must lie in [0, 1] and add up to at most 1.
* Jumps ``J``: with probability ``sim_jump_rate`` per stock-minute (default
  0.0005, about one jump per stock every 8 A-share days) the minute's log
  return gets an extra ``N(0, 1 %)`` (``jump_sigma``).
* Overnight gaps: there is no diffusion between sessions; with probability
  ``sim_gap_rate`` per stock-day (default 0.05) the day opens away from the
  previous close by ``N(0, 2 %)`` in log price (``gap_sigma``). Otherwise the
  first open equals the last close. The continuous test mode has no gaps.

Bars
----
``open``/``close`` are the model prices at the minute's start and end (after
a gap, the open is the gapped price). ``high``/``low`` are the extremes of a
Brownian bridge from open to close with the minute's variance, sampled
exactly (``max = (x + sqrt(x^2 - 2 sigma^2 dt ln U)) / 2`` in log price).
All four are rounded to the tick (0.01), so ``low <= open, close <= high``
holds. ``vwap`` is the time average of the same bridge (trades arrive
uniformly in the minute), drawn from its exact law, normal in log price with
mean ``(log open + log close) / 2`` and variance ``sigma^2 dt / 12``, rounded
to 4 decimals and clipped to ``[low, high]``. ``time`` is the minute's start (epoch ms UTC);
only session minutes exist (9:30-11:30 and 13:00-15:00 Asia/Shanghai for
XSHG; 9:30-16:00 America/New_York for XNYS, early closes included).

Volume (shares), in this order:

1. seed D: ``base * (1 + |change %| * 10) * U(0.7, 1.3)`` where ``change %``
   is the close-to-previous-close move in percent units (0.2 for 0.2 %),
   gaps included;
2. times the U-shaped intraday profile ``(1 + 2 (2x - 1)^2) / (1 + 2/3)``
   with ``x`` in [0, 1] the minute's position in the day (1.8 x at the open
   and close, 0.6 x at midday, mean 1 over the day; ``intraday_u = 2``);
3. times the regime's volume factor (1.3 in bear markets);
4. then the floor: ``max(volume, 0.3 * base)``;
5. then whole lots (100 shares for A-shares, 1 share for US), never below
   the smallest lot count that is >= the floor, and at least one lot. So every
   bar has ``volume >= 0.3 * base_volume``.

``trades`` is ``Poisson(40 * volume / base)`` clipped to ``[1, lots]``
(``trades_per_minute = 40`` at base volume).

Live events
-----------
Each minute of the same model path becomes events. The mid price inside the
minute is a Brownian bridge from the bar's open to its close. A
:class:`~quantdesk.domain.BookSnapshot` with 5 levels per side comes every 3
seconds per stock (A-share Level-2 cadence), at ``minute + 0, 3, ... 57 s``:
the best bid is the tick below ``mid - spread/2``, the spread is
``max(1 tick, 2 bps of price)`` (doubled in 20 % of snapshots), levels are
spaced by ``max(1 tick, 2 bps)`` so prices are strictly monotonic, sizes are
whole lots around ``0.2 * base volume`` (deeper levels larger). Trades
arrive as a Poisson process (their count is the bar's ``trades``, times
uniform in the minute); each prints at the best ask (buyer-initiated) or
best bid (seller-initiated) of the latest snapshot, buys being likelier when
the mid has risen since it. Sizes are whole lots (A-shares: multiples of 100
shares; US: whole shares) adding up to the bar's volume exactly. Trade ids
are ``f"{symbol}-{seq}"`` with ``seq`` carried in the state. At equal time,
snapshots come before trades.

State
-----
:class:`~quantdesk.domain.StockState` per stock: ``time`` (start of the last
simulated minute), ``price`` (last model close, unrounded), ``volatility``
and ``trend`` (the current regime's annual volatility and drift, for
display), ``regime``, ``next_regime_check`` (start of the minute after which
the next check runs) and ``extra``: ``regime_countdown`` (minutes left to
that check, authoritative), ``last_volume``, ``trade_seq``. Continuing from
states generates only minutes after the newest stored ``time``.

Determinism: each block (a trading day or its rest) draws from
``SeedSequence([seed, first minute, 0])`` and each live minute's events from
``SeedSequence([seed, minute, 1])``, so the same seed and states give the
same bars and events however ``advance`` is chunked.

API
---
* ``generate_history(universe, calendar, days, seed, states=None, params=None)
  -> (DataFrame, dict[str, StockState])``: bars with the columns of
  :data:`quantdesk.domain.BAR_COLUMNS` (``interval`` ``"1m"``, ``source``
  ``"simulator"``), rows ordered by time then universe order. A year of 100
  A-shares (5.8 M bars) takes about 1-2.5 s on a 2-core machine.
* ``MarketSimulator(universe, calendar, seed, start_ms, states=None,
  params=None, test_mode=False)`` (``clock=`` is an alias of ``start_ms``):
  ``advance(until_ms)`` returns every event with ``ts < until_ms``,
  ``states()`` the state for persistence, ``now`` and ``next_event_time()``
  say where it stands.
* ``SimulatorParams`` (frozen dataclass; ``SimulatorParams.from_settings(
  settings, **overrides)`` reads ``sim_market_correlation``,
  ``sim_sector_correlation``, ``sim_gap_rate`` and ``sim_jump_rate``).
* Universes: :func:`default_universe` (10 A-shares on XSHG, 10 US stocks on
  XNYS) or :func:`load_universe` (CSV / TOML, see
  :mod:`quantdesk.sources.simulator.universe`).
"""

from quantdesk.sources.simulator.history import generate_history
from quantdesk.sources.simulator.live import MarketSimulator
from quantdesk.sources.simulator.params import REGIMES, TRANSITIONS, SimulatorParams
from quantdesk.sources.simulator.universe import default_universe, load_universe

__all__ = [
    "REGIMES",
    "TRANSITIONS",
    "MarketSimulator",
    "SimulatorParams",
    "default_universe",
    "generate_history",
    "load_universe",
]
