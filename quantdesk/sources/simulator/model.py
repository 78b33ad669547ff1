"""The market model: one vectorised step over a block of minutes x stocks.

:func:`simulate_block` turns a start state and a block of minutes into the
minute path (log prices, OHLC, volume, trade counts, regimes). History
stacks blocks into bars; the live simulator expands each minute of a block
into trades and book snapshots. The formulas are in the package docstring.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from quantdesk.domain.messages import StockMeta, StockState
from quantdesk.errors import DataError
from quantdesk.sources.simulator.params import REGIMES, SimulatorParams
from quantdesk.sources.simulator.timeline import BlockMinutes, Timeline

_SEED_MASK = (1 << 64) - 1


def block_rng(seed: int, first_minute_ms: int, stream: int) -> np.random.Generator:
    """The generator of one block (``stream`` 0) or of one minute's events (``stream`` 1)."""
    ss = np.random.SeedSequence([seed & _SEED_MASK, first_minute_ms // 60_000, stream])
    return np.random.Generator(np.random.PCG64(ss))


@dataclass(frozen=True, slots=True)
class Stocks:
    """The static per-stock arrays of a universe (shape ``(S,)``)."""

    metas: tuple[StockMeta, ...]
    symbols: tuple[str, ...]
    base_vol: np.ndarray
    base_volume: np.ndarray
    lot: np.ndarray
    sector: np.ndarray
    n_sectors: int

    @classmethod
    def from_metas(cls, metas: Sequence[StockMeta], params: SimulatorParams) -> Stocks:
        if not metas:
            raise DataError("the simulator universe is empty: give at least one stock")
        symbols = tuple(m.symbol for m in metas)
        dup = sorted({s for s in symbols if symbols.count(s) > 1})
        if dup:
            raise DataError(f"duplicate symbol(s) in the simulator universe: {', '.join(dup)}")
        sectors = {s: i for i, s in enumerate(dict.fromkeys(m.sector for m in metas))}
        return cls(
            metas=tuple(metas),
            symbols=symbols,
            base_vol=np.array([m.volatility for m in metas], dtype=np.float64),
            base_volume=np.array([m.base_volume for m in metas], dtype=np.float64),
            lot=np.array([params.lot(m.market) for m in metas], dtype=np.float64),
            sector=np.array([sectors[m.sector] for m in metas], dtype=np.int64),
            n_sectors=len(sectors),
        )

    def __len__(self) -> int:
        return len(self.symbols)


@dataclass(slots=True)
class Start:
    """The model state of every stock before a block (arrays of shape ``(S,)``)."""

    log_price: np.ndarray
    regime: np.ndarray
    countdown: np.ndarray
    has_prev: np.ndarray
    last_volume: np.ndarray
    #: planted signal: log open of the current day's first minute, and the log return of
    #: the latest completed morning (first half of a day); zeros unless ``planted_beta``
    morning_open: np.ndarray
    morning_return: np.ndarray


@dataclass(frozen=True, slots=True)
class RegimeSchedule:
    """Regime checks of a block: check ``k`` of stock ``s`` runs after minute ``pos[s, k]``."""

    pos: np.ndarray
    before: np.ndarray
    after: np.ndarray
    per_minute: np.ndarray

    def done(self, n: int) -> np.ndarray:
        """Mask of the checks that ran within the first ``n`` minutes."""
        return self.pos < n


def regime_schedule(
    rng: np.random.Generator,
    regime0: np.ndarray,
    countdown0: np.ndarray,
    n: int,
    params: SimulatorParams,
) -> RegimeSchedule:
    """Markov regime checks over ``n`` minutes; the regime in force during each minute.

    A check runs after ``countdown`` more minutes; it draws the next regime from
    the transition row of the current one, then a new countdown uniform in
    ``[regime_check_min, regime_check_max]``. The draws are made for the most
    checks the block can hold, so the random stream does not depend on them.
    """
    s = len(regime0)
    lo, hi = params.regime_check_min, params.regime_check_max
    k = n // lo + 2
    gaps = rng.integers(lo, hi + 1, size=(s, k))
    u = rng.random((s, k))
    pos = np.empty((s, k), dtype=np.int64)
    pos[:, 0] = np.maximum(countdown0, 1) - 1
    pos[:, 1:] = pos[:, :1] + np.cumsum(gaps[:, :-1], axis=1)
    before = np.empty((s, k), dtype=np.int8)
    after = np.empty((s, k), dtype=np.int8)
    cum = np.cumsum(np.asarray(params.transitions), axis=1)
    cum[:, -1] = 1.0
    cur = regime0.astype(np.int8)
    for j in range(k):
        before[:, j] = cur
        if params.regime_switching:
            cur = (u[:, j, None] >= cum[cur]).sum(axis=1).astype(np.int8)
        after[:, j] = cur
        if j + 1 < k and pos[:, j + 1].min() >= n:
            before[:, j + 1 :] = cur[:, None]
            after[:, j + 1 :] = cur[:, None]
            break
    # regime during minute m = after[count of checks with pos < m], regime0 before any
    marks = np.zeros((n + 1, s), dtype=np.int16)
    rows, cols = np.nonzero(pos < n - 1)
    marks[pos[rows, cols] + 1, rows] = 1
    count = np.cumsum(marks[:n], axis=0)
    table = np.concatenate([regime0.astype(np.int8)[:, None], after], axis=1)
    per_minute = np.take_along_axis(table.T, count.astype(np.int64), axis=0)
    return RegimeSchedule(pos, before, after, per_minute)


@dataclass(frozen=True, slots=True)
class Block:
    """The minute path of one block: arrays of shape ``(N, S)`` unless noted."""

    minutes: BlockMinutes
    start: Start
    schedule: RegimeSchedule
    log_open: np.ndarray
    log_close: np.ndarray
    sd: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    vwap: np.ndarray
    volume: np.ndarray
    trades: np.ndarray
    #: planted signal: index of the day's first minute / last morning minute in the block
    #: (-1: not in it) and the morning open / return they set
    open_idx: int = -1
    am_idx: int = -1
    morning_open: np.ndarray | None = None
    morning_return: np.ndarray | None = None

    def state_after(self, m: int) -> Start:
        """The model state after minute ``m`` of the block (and its regime check)."""
        pos, after = self.schedule.pos, self.schedule.after
        ran = (pos <= m).sum(axis=1)
        table = np.concatenate([self.start.regime.astype(np.int8)[:, None], after], axis=1)
        rows = np.arange(pos.shape[0])
        return Start(
            log_price=self.log_close[m].copy(),
            regime=table[rows, ran],
            countdown=pos[rows, ran] - m,
            has_prev=np.ones(pos.shape[0], dtype=bool),
            last_volume=self.volume[m].copy(),
            morning_open=(
                self.morning_open
                if self.morning_open is not None and 0 <= self.open_idx <= m
                else self.start.morning_open
            ),
            morning_return=(
                self.morning_return
                if self.morning_return is not None and 0 <= self.am_idx <= m
                else self.start.morning_return
            ),
        )


def intraday_profile(day_pos: np.ndarray, u: float) -> np.ndarray:
    """U-shaped volume profile with mean 1 over the day: ``(1 + u (2x-1)^2) / (1 + u/3)``."""
    return (1.0 + u * (2.0 * day_pos - 1.0) ** 2) / (1.0 + u / 3.0)


def simulate_block(
    stocks: Stocks,
    start: Start,
    minutes: BlockMinutes,
    rng: np.random.Generator,
    params: SimulatorParams,
    dt: float,
) -> Block:
    """Simulate ``minutes`` for every stock from ``start`` (formulas: package docstring)."""
    n, s = len(minutes), len(stocks)
    sched = regime_schedule(rng, start.regime, start.countdown, n, params)
    reg = sched.per_minute
    drift = np.asarray(params.regime_drift)[reg]
    sig = stocks.base_vol * np.asarray(params.regime_vol)[reg]
    sd = sig * math.sqrt(dt)
    # correlated shocks: market + sector + idiosyncratic, unit variance
    rho_m, rho_s = params.market_correlation, params.sector_correlation
    mkt = rng.standard_normal(n)
    sec = rng.standard_normal((n, stocks.n_sectors))
    z = rng.standard_normal((n, s))
    z *= math.sqrt(max(0.0, 1.0 - rho_m - rho_s))
    z += math.sqrt(rho_m) * mkt[:, None]
    z += math.sqrt(rho_s) * sec[:, stocks.sector]
    r = (drift - 0.5 * sig * sig) * dt + sd * z
    # intraday jumps (per stock-minute) and overnight gaps (per stock-day)
    jumps = rng.random((n, s)) < params.jump_rate
    n_jumps = int(jumps.sum())
    if n_jumps:
        r[jumps] += params.jump_sigma * rng.standard_normal(n_jumps)
    step = r.copy()
    opens = np.flatnonzero(minutes.day_open)
    if len(opens):
        hit = rng.random((len(opens), s)) < params.gap_rate
        size = params.gap_sigma * rng.standard_normal((len(opens), s))
        if opens[0] == 0:
            hit[0] &= start.has_prev
        step[opens] += np.where(hit, size, 0.0)
        if params.planted_beta:
            # planted signal: the day opens beta x the last morning's return away
            step[opens[0]] += params.planted_beta * start.morning_return
    log_close = start.log_price + np.cumsum(step, axis=0)
    log_open = log_close - r
    # intra-minute range: extremes of a Brownian bridge from open to close
    var2 = 2.0 * sd * sd
    r2 = r * r
    up = 0.5 * (r + np.sqrt(r2 - var2 * np.log1p(-rng.random((n, s)))))
    down = 0.5 * (r - np.sqrt(r2 - var2 * np.log1p(-rng.random((n, s)))))
    tpu = params.ticks_per_unit
    o = _round_tick(log_open, tpu)
    c = _round_tick(log_close, tpu)
    h = _round_tick(log_open + up, tpu)
    lo = _round_tick(log_open + down, tpu)
    # vwap: the bridge's time average (trades arrive uniformly in the minute), whose law
    # is normal around the open-close midpoint with variance sd^2 / 12 in log price
    mean_log = log_open + 0.5 * r + sd * math.sqrt(1.0 / 12.0) * rng.standard_normal((n, s))
    vwap = np.clip(np.round(np.exp(mean_log), 4), lo, h)
    # volume: seed D's rule x U-shaped profile x regime factor, then the floor, then lots
    prev = np.empty_like(log_close)
    prev[0] = start.log_price
    prev[1:] = log_close[:-1]
    change_pct = np.abs(np.expm1(log_close - prev)) * 100.0
    noise = rng.uniform(params.volume_noise[0], params.volume_noise[1], (n, s))
    prof = intraday_profile(minutes.day_pos, params.intraday_u)[:, None]
    raw = stocks.base_volume * (1.0 + change_pct * params.volume_change_factor)
    raw *= noise * prof * np.asarray(params.regime_volume)[reg]
    floor = params.volume_floor * stocks.base_volume
    min_lots = np.maximum(np.ceil(floor / stocks.lot), 1.0)
    min_lots += min_lots * stocks.lot < floor
    lots = np.maximum(np.rint(np.maximum(raw, floor) / stocks.lot), min_lots)
    volume = lots * stocks.lot
    lam = params.trades_per_minute * volume / stocks.base_volume
    trades = np.clip(rng.poisson(lam), 1, lots.astype(np.int64))
    block = Block(minutes, start, sched, log_open, log_close, sd, o, h, lo, c, vwap, volume, trades)
    if params.planted_beta:
        block = _planted(block)
    return block


def _planted(block: Block) -> Block:
    """Where the block's day opens and its morning (first half of the day) ends.

    A block holds at most one trading day (history: one day; live: the rest of
    one), so each is found at most once. The morning return is the log return
    from the day's first open to the close of its last minute in the first half.
    """
    minutes = block.minutes
    opens = np.flatnonzero(minutes.day_open)
    open_idx = int(opens[0]) if len(opens) else -1
    morning_open = block.log_open[open_idx].copy() if open_idx >= 0 else block.start.morning_open
    am = minutes.day_pos < 0.5
    ends = np.flatnonzero(am[:-1] & ~am[1:])
    am_idx = int(ends[0]) if len(ends) else -1
    morning_return = block.log_close[am_idx] - morning_open if am_idx >= 0 else None
    return replace(
        block,
        open_idx=open_idx,
        am_idx=am_idx,
        morning_open=morning_open,
        morning_return=morning_return,
    )


def _round_tick(log_price: np.ndarray, tpu: int) -> np.ndarray:
    return np.maximum(np.rint(np.exp(log_price) * tpu), 1.0) / tpu


# -- states ------------------------------------------------------------------


def fresh_countdown(seed: int, symbol: str, params: SimulatorParams) -> int:
    """The first regime countdown of a stock with no stored state (deterministic)."""
    ss = np.random.SeedSequence([seed & _SEED_MASK, zlib.crc32(symbol.encode()), 2])
    rng = np.random.Generator(np.random.PCG64(ss))
    return int(rng.integers(params.regime_check_min, params.regime_check_max + 1))


def start_from_states(
    stocks: Stocks,
    states: Mapping[str, StockState] | None,
    seed: int,
    params: SimulatorParams,
) -> tuple[Start, np.ndarray]:
    """The start arrays and per-stock trade sequence numbers; fresh stocks start at base."""
    s = len(stocks)
    start = Start(
        log_price=np.log([m.base_price for m in stocks.metas]),
        regime=np.full(s, REGIMES.index(params.initial_regime), dtype=np.int8),
        countdown=np.array([fresh_countdown(seed, sym, params) for sym in stocks.symbols]),
        has_prev=np.zeros(s, dtype=bool),
        last_volume=stocks.base_volume.copy(),
        morning_open=np.zeros(s),
        morning_return=np.zeros(s),
    )
    seq = np.zeros(s, dtype=np.int64)
    for i, sym in enumerate(stocks.symbols):
        st = (states or {}).get(sym)
        if st is None:
            continue
        if not (math.isfinite(st.price) and st.price > 0):
            raise DataError(f"stock state {sym}, field 'price': must be > 0 (got {st.price!r})")
        if st.regime not in REGIMES:
            raise DataError(
                f"stock state {sym}, field 'regime': must be one of {', '.join(REGIMES)} "
                f"(got {st.regime!r})"
            )
        countdown = st.extra.get("regime_countdown")
        if countdown is None or not math.isfinite(countdown):
            countdown = (st.next_regime_check - st.time) / 60_000
        start.log_price[i] = math.log(st.price)
        start.regime[i] = REGIMES.index(st.regime)
        start.countdown[i] = max(1, round(countdown))
        start.has_prev[i] = True
        start.last_volume[i] = st.extra.get("last_volume", stocks.base_volume[i])
        seq[i] = int(st.extra.get("trade_seq", 0))
        start.morning_open[i] = st.extra.get("morning_open", 0.0)
        start.morning_return[i] = st.extra.get("morning_return", 0.0)
    return start, seq


def to_states(
    stocks: Stocks,
    start: Start,
    times: np.ndarray,
    seq: np.ndarray,
    timeline: Timeline,
    params: SimulatorParams,
) -> dict[str, StockState]:
    """:class:`StockState` of every stock; ``times[i]`` is the start of its last minute."""
    out: dict[str, StockState] = {}
    for i, sym in enumerate(stocks.symbols):
        regime = int(start.regime[i])
        t = int(times[i])
        countdown = int(start.countdown[i])
        extra = {
            "regime_countdown": float(countdown),
            "last_volume": float(start.last_volume[i]),
            "trade_seq": float(seq[i]),
        }
        if params.planted_beta:
            extra["morning_open"] = float(start.morning_open[i])
            extra["morning_return"] = float(start.morning_return[i])
        out[sym] = StockState(
            symbol=sym,
            time=t,
            price=float(np.exp(start.log_price[i])),
            volatility=float(stocks.base_vol[i] * params.regime_vol[regime]),
            trend=float(params.regime_drift[regime]),
            regime=REGIMES[regime],
            next_regime_check=timeline.minute_after(t, countdown),
            extra=extra,
        )
    return out
