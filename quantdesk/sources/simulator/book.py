"""One minute of live events: L1-L5 book snapshots and trades consistent with them.

Given the model's minute (open and close log price, diffusion, volume, trade
count), the mid price inside the minute is a Brownian bridge from open to
close, sampled at every snapshot and trade time. Every ``book_interval_ms``
a snapshot is taken around the mid; each trade prints at the best bid
(seller-initiated) or best ask (buyer-initiated) of the latest snapshot, the
side leaning with the mid's move since that snapshot. Trade sizes are whole
lots that add up to the minute's volume exactly.
"""

from __future__ import annotations

import numpy as np

from quantdesk.domain.messages import BookSnapshot, Trade
from quantdesk.sources.simulator.model import Block, Stocks
from quantdesk.sources.simulator.params import SimulatorParams

Event = Trade | BookSnapshot
_SNAP, _TRADE = 0, 1


def split_lots(rng: np.random.Generator, lots: int, n: int) -> np.ndarray:
    """``n`` positive integers adding up to ``lots`` (exponential weights, largest remainder)."""
    if n <= 1:
        return np.array([lots], dtype=np.int64)[:n]
    spare = lots - n
    w = rng.exponential(size=n)
    share = spare * w / w.sum()
    base = np.floor(share).astype(np.int64)
    left = spare - int(base.sum())
    if left > 0:
        base[np.argsort(base - share, kind="stable")[:left]] += 1
    return base + 1


#: How strongly each book level leans with the imbalance (the top of the book most).
_LEVEL_WEIGHT = np.array([1.0, 0.85, 0.7, 0.55, 0.45, 0.35, 0.3, 0.25, 0.2, 0.2])
#: Imbalance dynamics per snapshot (3 s): persistence, noise scale, and how much
#: the book leans towards the minute's move (order flow leads the price).
IMBALANCE_PERSISTENCE = 0.9
IMBALANCE_NOISE = 0.35
IMBALANCE_FLOW = 0.4


def book_imbalance(block: Block, m: int, n_snap: int, rng: np.random.Generator) -> np.ndarray:
    """The lean of each stock's book at each snapshot of minute ``m``, in (-1, 1).

    ``tanh(x)`` of a persistent AR(1) state (``IMBALANCE_PERSISTENCE`` per
    snapshot, stationary scale ``IMBALANCE_NOISE``) plus the minute's
    standardised move (close versus open over its diffusion), scaled by
    ``IMBALANCE_FLOW``: books lean towards where the price is going, for
    seconds to tens of seconds, as order book imbalance does in real markets
    (it is the most used short-horizon predictor of the mid). Drawn from a
    generator of its own (a child of the minute's), so the rest of the
    minute's events are the same draws as without it.
    """
    ss = rng.bit_generator.seed_seq
    assert isinstance(ss, np.random.SeedSequence)  # block_rng's generators have one
    own = np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, 7)))
    n_stocks = block.log_open.shape[1]
    phi = IMBALANCE_PERSISTENCE
    shocks = own.standard_normal((n_snap, n_stocks)) * np.sqrt(1 - phi * phi)
    state = np.empty_like(shocks)
    state[0] = own.standard_normal(n_stocks)
    for k in range(1, n_snap):
        state[k] = phi * state[k - 1] + shocks[k]
    sd = np.maximum(block.sd[m], 1e-12)
    move = (block.log_close[m] - block.log_open[m]) / sd
    return np.tanh(IMBALANCE_NOISE * state + IMBALANCE_FLOW * move[None, :])


def minute_events(
    stocks: Stocks,
    block: Block,
    m: int,
    rng: np.random.Generator,
    params: SimulatorParams,
    seq: np.ndarray,
) -> list[Event]:
    """Every snapshot and trade of minute ``m`` of ``block``, ordered by event time.

    ``seq`` holds each stock's last trade sequence number and is advanced in
    place (trade ids are ``f"{symbol}-{seq}"``). Ties in time put snapshots
    before trades, then follow universe order.
    """
    t0 = int(block.minutes.times[m])
    step = params.book_interval_ms
    n_snap = 60_000 // step
    snap_off = np.arange(n_snap, dtype=np.int64) * step
    tpu = params.ticks_per_unit
    levels = np.arange(params.book_levels, dtype=np.int64)
    imbalance = book_imbalance(block, m, n_snap, rng)
    keyed: list[tuple[int, int, int, int, Event]] = []
    for s, sym in enumerate(stocks.symbols):
        lot = int(stocks.lot[s])
        lots = round(block.volume[m, s] / lot)
        n = int(block.trades[m, s])
        trade_off = np.sort(rng.integers(0, 60_000, n))
        # mid path: Brownian bridge from open to close at snapshot and trade times
        frac = np.concatenate([snap_off, trade_off]) / 60_000.0
        order = np.argsort(frac, kind="stable")
        f = frac[order]
        dw = rng.standard_normal(len(f) + 1) * np.sqrt(np.diff(f, prepend=0.0, append=1.0))
        w = np.cumsum(dw)
        bridge = w[:-1] - f * w[-1]
        lo, r = block.log_open[m, s], block.log_close[m, s] - block.log_open[m, s]
        mid_sorted = np.exp(lo + f * r + block.sd[m, s] * bridge)
        mid = np.empty_like(mid_sorted)
        mid[order] = mid_sorted
        snap_mid, trade_mid = mid[:n_snap], mid[n_snap:]
        # book around each snapshot's mid, on the tick grid
        width = np.maximum(1, np.rint(snap_mid * params.spread_bps * 1e-4 * tpu)).astype(np.int64)
        spread = width * (1 + (rng.random(n_snap) < 0.2))
        bid0 = np.floor(snap_mid * tpu - spread / 2.0).astype(np.int64)
        bid0 = np.maximum(bid0, 1 + (params.book_levels - 1) * width)
        ask0 = bid0 + spread
        bids = bid0[:, None] - width[:, None] * levels
        asks = ask0[:, None] + width[:, None] * levels
        depth = max(1.0, params.book_depth * stocks.base_volume[s] / lot) * (1 + 0.25 * levels)
        lean = imbalance[:, s, None] * _LEVEL_WEIGHT[None, : params.book_levels]
        bid_sz = np.maximum(1, np.rint(depth * rng.uniform(0.3, 1.7, bids.shape) * (1 + lean)))
        ask_sz = np.maximum(1, np.rint(depth * rng.uniform(0.3, 1.7, asks.shape) * (1 - lean)))
        bid_sz, ask_sz = bid_sz * lot, ask_sz * lot
        bid_px, ask_px = (bids / tpu).tolist(), (asks / tpu).tolist()
        bid_sl, ask_sl = bid_sz.tolist(), ask_sz.tolist()
        for k in range(n_snap):
            snap = BookSnapshot(
                sym,
                t0 + int(snap_off[k]),
                tuple(zip(bid_px[k], bid_sl[k], strict=True)),
                tuple(zip(ask_px[k], ask_sl[k], strict=True)),
            )
            keyed.append((snap.ts, _SNAP, s, k, snap))
        # trades at the latest snapshot's best bid / ask
        k_of = trade_off // step
        move = (trade_mid - snap_mid[k_of]) * tpu / spread[k_of]
        buy = rng.random(n) < np.clip(0.5 + move, 0.05, 0.95)
        ticks = np.where(buy, ask0[k_of], bid0[k_of])
        prices = (ticks / tpu).tolist()
        sizes = (split_lots(rng, lots, n) * lot).astype(np.float64).tolist()
        first = int(seq[s])
        for i in range(n):
            ts = t0 + int(trade_off[i])
            trade = Trade(sym, ts, prices[i], sizes[i], f"{sym}-{first + i + 1}")
            keyed.append((ts, _TRADE, s, i, trade))
        seq[s] = first + n
    keyed.sort(key=lambda e: e[:4])
    return [e[4] for e in keyed]
