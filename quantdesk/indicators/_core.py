"""Shared machinery for the indicators: input checks and fast NumPy kernels.

Why hand-written kernels instead of a library: TA-Lib is the reference, but it
is a test-only dependency (a C library); on a million points pandas' rolling
mean is ~9x slower than TA-Lib's SMA and ``scipy.signal.lfilter`` ~2.6x slower
than its EMA; even a plain ``np.cumsum`` costs twice TA-Lib's whole SMA. So the
kernels below are whole-array NumPy operations and thin BLAS products:

* short windows (``n <= FIR_MAX_TAPS``) as matrix products (:func:`fir_into`):
  outputs in rows of ``_BLOCK``, each row its inputs times a banded Toeplitz
  matrix, the rows read in place as strided views; every window summed on its
  own (no running sum, no drift);
* rolling mean/variance (:func:`rolling_mean_var`) by the same products on
  values shifted by a nearby anchor, each variance checked against its
  rounding bound (the rare inaccurate ones redone exactly), or by doubling
  with Chan's pairwise update (:func:`window_moments`) where that is faster;
  never the raw ``E[x^2] - E[x]^2`` cancellation;
* window sums and rolling max/min by *doubling* (windows of 1, 2, 4, ... built
  from two shifted halves, then composed along the binary digits of the
  period): O(N log n), exact for max/min, a NaN spoiling only its windows;
* first-order linear recursions ``y[t] = a*y[t-1] + scale*u[t]`` (EMA, Wilder
  smoothing, KDJ) by a blocked scan (:class:`BlockedScan`): rows of
  ``_BLOCK`` values, a product for every row's end, a short scan of those
  for the carries, each carry folded into its row's first input, and one
  product for every value; span by span (:data:`SPAN` values), so each
  input is read from memory once and the scratch stays in cache.

Every BLAS product keeps ``M*N*K <= _GEMM_MNK``: OpenBLAS then runs it on one
thread; its threads cost far more than they give on these thin products.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from quantdesk.errors import ConfigError, DataError

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

MAX_PERIOD = 100_000  # TA-Lib's upper bound for every period parameter
_BLOCK = 8  # values per row of the scans and outputs per row of the FIR products
_GEMM_MNK = 1 << 18  # OpenBLAS runs a product with M*N*K up to this on one thread
_SCAN_ROWS = _GEMM_MNK // (_BLOCK * _BLOCK)  # rows per product of the scan
CHUNK = 1 << 15  # values per chunk of the elementwise work (fits in L2 cache)
SPAN = 1 << 18  # values per span of the scans (2 MB of scratch: stays in L3 cache)
NAN = math.nan


def as_float_array(values: Any, name: str) -> FloatArray:
    """``values`` (list, NumPy array, pandas/polars Series) as a 1-D float64 array."""
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        try:  # pandas: nullable dtypes need an explicit NA value
            values = values.to_numpy(dtype=np.float64, na_value=np.nan)
        except TypeError:  # polars and others
            values = values.to_numpy()
    try:
        arr = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numbers convertible to float64: {exc}") from exc
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got an array of shape {arr.shape}")
    return arr


def as_float_arrays(**named: Any) -> list[FloatArray]:
    """Several inputs as float64 arrays of one common length (checked)."""
    arrays = [as_float_array(v, k) for k, v in named.items()]
    lengths = {k: len(a) for k, a in zip(named, arrays, strict=True)}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise DataError(f"inputs must have the same length, got {shown}")
    return arrays


def check_period(name: str, value: int, minimum: int) -> int:
    """``value`` as an int within TA-Lib's range [minimum, 100000], or ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if not minimum <= value <= MAX_PERIOD:
        raise ConfigError(
            f"{name} must be between {minimum} and {MAX_PERIOD}, got {value}; "
            f"use a period of at least {minimum}"
        )
    return int(value)


def check_real(name: str, value: float) -> float:
    """``value`` as a finite float, or ConfigError."""
    try:
        result = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(result):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return result


def first_valid(*arrays: FloatArray) -> int:
    """Index of the first row where no input is NaN (``len`` if there is none).

    TA-Lib's Python wrapper skips leading NaNs the same way: the computation
    starts on that row and everything before it is NaN.
    """
    n = len(arrays[0])
    if n == 0 or not any(math.isnan(a[0]) for a in arrays):
        return 0
    bad = np.isnan(arrays[0])
    for a in arrays[1:]:
        bad |= np.isnan(a)
    good = np.flatnonzero(~bad)
    return int(good[0]) if len(good) else n


def nan_array(n: int) -> FloatArray:
    return np.full(n, np.nan)


def seq_sum(values: FloatArray) -> float:
    """Left-to-right sum (the order a streaming update adds in)."""
    total = 0.0
    for v in values.tolist():
        total += v
    return total


# --------------------------------------------------------------------------- windows


FIR_MAX_TAPS = 48  # windows up to this length are summed by matrix products


def _fir_matrix(taps: FloatArray) -> FloatArray:
    """The ``(_BLOCK + n - 1, _BLOCK)`` banded Toeplitz matrix ``T[k, j] = taps[k - j]``."""
    n = len(taps)
    matrix = np.zeros((_BLOCK + n - 1, _BLOCK))
    for j in range(_BLOCK):
        matrix[j : j + n, j] = taps
    return matrix


def fir_into(x: FloatArray, taps: FloatArray, out: FloatArray) -> None:
    """``out[i] = sum(taps[k] * x[i + k] for k < n)`` for every full window (``n =
    len(taps)``, ``len(out) = len(x) - n + 1``), by matrix products.

    Outputs in rows of ``_BLOCK``, each row a product of its ``_BLOCK + n - 1``
    inputs with a banded Toeplitz matrix. The rows are read in place as
    strided views: rows ``p, p + P, p + 2P, ...`` (``P * _BLOCK >= _BLOCK + n - 1``)
    do not overlap, so one batched product over the ``P`` phases reads the
    input and writes the output directly, with no copy. Every window is
    summed on its own: no running sum, no drift; a NaN/inf spoils its whole
    row of outputs (callers check and take another path).
    """
    n = len(taps)
    m = len(out)
    if m <= 0:
        return
    width = _BLOCK + n - 1
    phases = -(-width // _BLOCK)
    line = phases * _BLOCK  # outputs per line: one row of each phase
    lines = m // line
    if lines:
        matrix = _fir_matrix(taps)
        step = max(1, _GEMM_MNK // (width * _BLOCK))
        item = x.itemsize
        strides = (_BLOCK * item, line * item, item)
        src = as_strided(x, shape=(phases, lines, width), strides=strides, writeable=False)
        dst = as_strided(out, shape=(phases, lines, _BLOCK), strides=strides)
        for g0 in range(0, lines, step):
            np.matmul(src[:, g0 : g0 + step], matrix, out=dst[:, g0 : g0 + step])
    done = lines * line
    if done < m:
        np.matmul(sliding_window_view(x[done:], n), taps, out=out[done:])


def window_sum(x: FloatArray, n: int) -> FloatArray:
    """``out[i] = x[i] + ... + x[i+n-1]`` for ``i < len(x) - n + 1`` (doubling)."""
    m = len(x)
    if m < n:
        return np.empty(0)
    acc: FloatArray | None = None  # windows of length acc_len, acc[i] starts at i
    acc_len = 0
    level = x  # windows of length span
    span = 1
    rest = n
    while True:
        if rest & 1:
            if acc is None:
                acc, acc_len = level, span
            else:  # older piece (level) followed by the newer acc piece
                k = m - acc_len - span + 1
                acc = level[:k] + acc[span : span + k]
                acc_len += span
        rest >>= 1
        if not rest:
            break
        k = m - 2 * span + 1
        level = level[:k] + level[span : span + k]
        span *= 2
    assert acc is not None
    return acc


def window_max(x: FloatArray, n: int) -> FloatArray:
    """Rolling max over windows of ``n`` (``out[i]`` covers ``x[i:i+n]``); NaN spreads."""
    return _window_extreme(x, n, np.maximum)


def window_min(x: FloatArray, n: int) -> FloatArray:
    """Rolling min over windows of ``n`` (``out[i]`` covers ``x[i:i+n]``); NaN spreads."""
    return _window_extreme(x, n, np.minimum)


def _window_extreme(x: FloatArray, n: int, op: np.ufunc) -> FloatArray:
    m = len(x)
    if m < n:
        return np.empty(0)
    level = x
    span = 1
    while span * 2 <= n:
        k = m - 2 * span + 1
        level = op(level[:k], level[span : span + k])
        span *= 2
    if span == n:
        return level
    k = m - n + 1  # two overlapping power-of-two windows cover the period
    result: FloatArray = op(level[:k], level[n - span : n - span + k])
    return result


def window_moments(x: FloatArray, n: int) -> tuple[FloatArray, FloatArray]:
    """Rolling ``(sum, M2)`` with ``M2 = sum((x - mean)**2)`` over windows of ``n``.

    Doubling with Chan et al.'s pairwise combination: no cancellation, so the
    variance ``M2 / n`` is accurate even for large prices with tiny moves.
    """
    m = len(x)
    if m < n:
        return np.empty(0), np.empty(0)
    acc_s: FloatArray | None = None
    acc_m2: FloatArray | None = None
    acc_len = 0
    lev_s = x
    lev_m2: FloatArray | None = None  # None means all zeros (windows of one value)
    span = 1
    rest = n
    while True:
        if rest & 1:
            if acc_s is None:
                acc_s, acc_m2, acc_len = lev_s, lev_m2, span
            else:
                k = m - acc_len - span + 1
                old_s = lev_s[:k]
                new_s = acc_s[span : span + k]
                # span * acc_len / (span + acc_len) * (mean_old - mean_new)**2, as
                # (old_s * acc_len - new_s * span)**2 / (...): one pass fewer
                delta = np.multiply(new_s, float(span))  # exact: span is a power of 2
                if acc_len == 1:
                    np.subtract(old_s, delta, out=delta)
                else:
                    np.subtract(old_s * float(acc_len), delta, out=delta)
                delta *= delta
                delta *= 1.0 / (span * acc_len * (span + acc_len))
                if lev_m2 is not None:
                    delta += lev_m2[:k]
                if acc_m2 is not None:
                    delta += acc_m2[span : span + k]
                acc_s = old_s + new_s
                acc_m2 = delta
                acc_len += span
        rest >>= 1
        if not rest:
            break
        k = m - 2 * span + 1
        a_s = lev_s[:k]
        b_s = lev_s[span : span + k]
        diff = a_s - b_s
        diff *= diff
        diff *= 1.0 / (2.0 * span)
        if lev_m2 is not None:
            diff += lev_m2[:k]
            diff += lev_m2[span : span + k]
        lev_s = a_s + b_s
        lev_m2 = diff
        span *= 2
    assert acc_s is not None
    if acc_m2 is None:
        acc_m2 = np.zeros(len(acc_s))
    return acc_s, acc_m2


def rolling_mean_var(
    x: FloatArray, n: int, mean_out: FloatArray | None = None
) -> Iterator[tuple[int, int, FloatArray]]:
    """Rolling mean and population variance over the windows of ``n``, by chunks.

    For each chunk ``[lo, hi)`` of windows (window ``i`` is ``x[i : i + n]``),
    writes the means into ``mean_out[lo:hi]`` (if given) and yields
    ``(lo, hi, var)``; ``var`` is scratch, valid until the next step.

    Short windows (``n <= FIR_MAX_TAPS``, where faster than doubling, see
    :func:`_moments_by_products`): lines of a few dozen windows share
    an anchor ``c`` (a value in the middle of the line's inputs); two products
    as in :func:`fir_into` give each window's mean of ``y = x - c`` and of
    ``y**2``, and ``var = mean(y**2) - mean(y)**2``. Shifting by a nearby
    value keeps the cancellation small; each variance is checked against the
    rounding bound, and a window where it is not accurate to ~1e-11 (or that
    a NaN/inf spoiled) is redone on its own by two passes, a chunk with many
    such by :func:`window_moments` (exact, slower).
    """
    m = len(x) - n + 1
    if m <= 0:
        return
    width = _BLOCK + n - 1
    phases = -(-width // _BLOCK)
    line = phases * _BLOCK  # windows per line
    span = line + n - 1  # inputs per line
    lines = m // line if _moments_by_products(n) else 0
    step = max(1, min(_GEMM_MNK // (width * _BLOCK), CHUNK // line, lines))
    if lines:
        matrix = _fir_matrix(np.full(n, 1.0 / n))
        # var * limit >= mean(y**2) keeps the relative error of var under ~1e-11
        limit = 1e-11 / (3.0 * width * _EPS)
        item = x.itemsize
        inputs = as_strided(x, shape=(lines, span), strides=(line * item, item), writeable=False)
        anchors = inputs[:, span // 2 : span // 2 + 1].copy()
        shifted = np.empty((2, step, span))
        means = np.empty((2, step, line))
        src = as_strided(
            shifted,
            shape=(2, phases, step, width),
            strides=(shifted.strides[0], _BLOCK * item, span * item, item),
            writeable=False,
        )
        dst = as_strided(
            means,
            shape=(2, phases, step, _BLOCK),
            strides=(means.strides[0], _BLOCK * item, line * item, item),
        )
        var = np.empty((step, line))
        bound = np.empty((step, line))
        flags = np.empty((step, line), dtype=bool)
        windows = sliding_window_view(x, n)
    for g0 in range(0, lines, step):
        count = min(lines - g0, step)
        lo, hi = g0 * line, (g0 + count) * line
        anchor = anchors[g0 : g0 + count]
        y, y2 = shifted[0, :count], shifted[1, :count]
        np.subtract(inputs[g0 : g0 + count], anchor, out=y)
        np.multiply(y, y, out=y2)
        np.matmul(src[:, :, :count], matrix, out=dst[:, :, :count])
        mean_y, mean_y2 = means[0, :count], means[1, :count]
        v = np.multiply(mean_y, mean_y, out=var[:count])
        np.subtract(mean_y2, v, out=v)
        ok = np.less_equal(mean_y2, np.multiply(v, limit, out=bound[:count]), out=flags[:count])
        bad = np.flatnonzero(~ok) if not ok.all() else None
        if bad is not None and len(bad) * 16 > hi - lo:  # many bad windows: redo the chunk
            yield from _moments_by_doubling(x, n, lo, hi, mean_out)
            continue
        if mean_out is not None:
            np.add(mean_y, anchor, out=mean_out[lo:hi].reshape(count, line))
        var_flat = v.reshape(-1)
        if bad is not None:  # the few others (inaccurate, or spoiled by a NaN): two
            chosen = windows[lo + bad]  # passes, around each window's first value
            first = chosen[:, :1]
            chosen = chosen - first
            shift = chosen.sum(axis=1) / n
            chosen -= shift[:, None]
            var_flat[bad] = (chosen * chosen).sum(axis=1) / n
            if mean_out is not None:
                mean_out[lo + bad] = first[:, 0] + shift
        yield lo, hi, var_flat
    yield from _moments_by_doubling(x, n, lines * line, m, mean_out)


def _moments_by_products(n: int) -> bool:
    """Whether :func:`rolling_mean_var` is faster by products than by doubling.

    In passes over the data (measured): doubling takes about 6 per level and
    7 per extra binary digit of ``n``; the products about 21 plus ``0.31 * n``.
    """
    if n > FIR_MAX_TAPS:
        return False
    doubling = 4 + 6 * (n.bit_length() - 2) + 7 * (bin(n).count("1") - 1)
    return 21 + 0.31 * n < doubling


def _moments_by_doubling(
    x: FloatArray, n: int, start: int, stop: int, mean_out: FloatArray | None
) -> Iterator[tuple[int, int, FloatArray]]:
    """:func:`rolling_mean_var` for the windows ``start .. stop - 1``, by doubling."""
    for lo, hi in chunk_ranges(stop - start):
        lo, hi = lo + start, hi + start
        sums, m2 = window_moments(x[lo : hi + n - 1], n)
        if mean_out is not None:
            np.divide(sums, n, out=mean_out[lo:hi])
        m2 /= n  # a fresh array (never a view of x)
        yield lo, hi, m2


_EPS = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------- scans


def chunk_ranges(total: int, size: int = CHUNK) -> list[tuple[int, int]]:
    """``[(lo, hi), ...]`` covering ``range(total)`` in pieces of ``size``.

    Working chunk by chunk keeps every temporary in the CPU cache; on a
    million points that halves the time of the window kernels.
    """
    return [(lo, min(total, lo + size)) for lo in range(0, total, size)]


def _scan_matrices(a: float, scale: float, block: int) -> tuple[FloatArray, FloatArray]:
    """``(W, e)``: ``W[i, j] = scale * a**(j - i)`` (``j >= i``, else 0) maps a row
    of ``block`` inputs to its values scanned from zero; ``e`` (W's last
    column, as a ``(block, 1)`` matrix) maps it to the row's end alone.
    ``block = _DENSE`` also serves as the dense scan of a short series."""
    key = (float(a), float(scale), block)
    cached = _SCAN_CACHE.get(key)
    if cached is None:
        idx = np.arange(block)
        lag = idx[None, :] - idx[:, None]
        weights = np.where(lag >= 0, key[0] ** np.maximum(lag, 0).astype(np.float64), 0.0)
        weights *= key[1]
        if len(_SCAN_CACHE) > 128:
            _SCAN_CACHE.clear()
        cached = _SCAN_CACHE[key] = (weights, np.ascontiguousarray(weights[:, -1:]))
    return cached


_SCAN_CACHE: dict[tuple[float, float, int], tuple[FloatArray, FloatArray]] = {}
_DENSE = 64  # series up to this length are scanned by one dense product
_CARRY_BLOCK = 16  # row length of the long scans over row ends (fewer levels of recursion)


def _scan_loop(u: FloatArray, a: float, y0: float, out: FloatArray, scale: float) -> None:
    acc = y0
    for i, v in enumerate(u.tolist()):
        acc = a * acc + scale * v
        out[i] = acc


def _dense_scan(u: FloatArray, a: float, y0: float, out: FloatArray, scale: float) -> None:
    """``len(u) <= _DENSE``, all finite: ``u @ W + y0 * a**(j+1)``."""
    n = len(u)
    weights = _scan_matrices(a, scale, _DENSE)[0]
    np.matmul(u, weights[:n, :n], out=out)
    out += weights[0, :n] * (y0 * a / scale)


def _carry_scan(z: FloatArray, a: float, y0: float, out: FloatArray) -> None:
    """``out[t] = a * out[t-1] + z[t]`` from ``y0``, for finite ``z`` of at most
    ``SPAN // _BLOCK`` values (the scan over row ends); ``z`` is destroyed.

    The same blocked scheme as :class:`BlockedScan`, in one pass, with rows of
    ``_CARRY_BLOCK`` (two levels cover a span) down to a dense product.
    """
    n = len(z)
    if n <= _DENSE:
        _dense_scan(z, a, y0, out, 1.0)
        return
    block = _CARRY_BLOCK if n > _DENSE * _DENSE else _DENSE  # then the carries are dense
    rows = n // block
    main = rows * block
    weights, end_weights = _scan_matrices(a, 1.0, block)
    values = z[:main].reshape(rows, block)
    heads = np.matmul(values, end_weights).reshape(rows)
    carries = np.empty(rows)
    _carry_scan(heads, a**block, y0, carries)
    heads[1:] = carries[:-1]
    heads[0] = y0
    heads *= a
    values[:, 0] += heads
    dest = out[:main].reshape(rows, block)
    step = _GEMM_MNK // (block * block)
    for r in range(0, rows, step):
        np.matmul(values[r : r + step], weights, out=dest[r : r + step])
    if main < n:
        _scan_loop(z[main:], a, float(carries[-1]), out[main:], 1.0)


class BlockedScan:
    """``y[t] = a * y[t-1] + scale * u[t]`` (``y[-1] = y0``) over ``n`` values of
    ``u`` given piece by piece, in two passes.

    The series is cut into rows of ``_BLOCK`` values. Pass 1 (:meth:`row_ends`)
    gives every row's end scanned from zero (``rows @ e``, ``e`` the last
    column of ``W``); :meth:`solve` turns those into the carry into each row
    (a scan with factor ``a**_BLOCK``) and scales it by ``a / scale``; pass 2
    (:meth:`apply`) adds that to each row's first input, so one product
    ``rows @ W`` with ``W[i, j] = scale * a**(j - i)`` gives every value.
    Pieces start at multiples of ``_BLOCK``. Every product has
    ``M*N*K <= _GEMM_MNK``, which OpenBLAS runs on one thread: its threads
    cost far more than they give on these thin products.
    """

    __slots__ = ("_a", "_heads", "_last", "_scale", "_weights", "_y0", "ends", "main", "rows")

    def __init__(self, n: int, a: float, y0: float, scale: float) -> None:
        self._a, self._y0, self._scale = a, y0, scale
        self.rows = n // _BLOCK
        self.main = self.rows * _BLOCK  # values in whole rows; the rest is scanned in a loop
        self.ends = np.empty((self.rows, 1))
        self._weights = _scan_matrices(a, scale, _BLOCK)
        self._heads = self.ends.reshape(self.rows)
        self._last = y0

    def row_ends(self, lo: int, piece: FloatArray) -> None:
        """Pass 1 for ``u[lo : lo + len(piece)]`` (``lo % _BLOCK == 0``)."""
        first = lo // _BLOCK
        count = min(self.rows, (lo + len(piece)) // _BLOCK) - first
        if count <= 0:
            return
        values = piece[: count * _BLOCK].reshape(count, _BLOCK)
        end_weights = self._weights[1]
        ends = self.ends[first : first + count]
        step = _GEMM_MNK // _BLOCK
        for r in range(0, count, step):
            np.matmul(values[r : r + step], end_weights, out=ends[r : r + step])

    def solve(self) -> bool:
        """Between the passes; False (and nothing done) if a row end is NaN/inf."""
        heads = self._heads
        rows = self.rows
        if rows == 0:
            return True
        if not math.isfinite(float(np.sum(heads))):
            return False
        carries = np.empty(rows)
        _carry_scan(heads, self._a**_BLOCK, self._y0, carries)
        self._last = float(carries[-1])
        heads[1:] = carries[:-1]
        heads[0] = self._y0
        heads *= self._a / self._scale
        return True

    def apply(self, lo: int, piece: FloatArray, out: FloatArray) -> None:
        """Pass 2: ``y[lo : lo + len(piece)]`` into ``out`` (same length, no memory
        shared with ``piece``, which takes the carries: its values are then
        undefined)."""
        weights = self._weights[0]
        first = lo // _BLOCK
        count = max(min(self.rows, (lo + len(piece)) // _BLOCK) - first, 0)
        values = piece[: count * _BLOCK].reshape(count, _BLOCK)
        dest = out[: count * _BLOCK].reshape(count, _BLOCK)
        values[:, 0] += self._heads[first : first + count]
        for r in range(0, count, _SCAN_ROWS):
            np.matmul(values[r : r + _SCAN_ROWS], weights, out=dest[r : r + _SCAN_ROWS])
        tail = count * _BLOCK
        if tail < len(piece):  # the last values of the series, after the whole rows
            _scan_loop(piece[tail:], self._a, self._last, out[tail:], self._scale)

    def finish(self, piece: FloatArray, out: FloatArray) -> bool:
        """:meth:`solve` then :meth:`apply` for a series held whole in
        ``piece``, its row ends already given; False, with nothing written, if the
        series or ``y0`` holds a NaN/inf."""
        if not math.isfinite(self._y0) or not math.isfinite(float(np.sum(piece[self.main :]))):
            return False
        if not self.solve():
            return False
        self.apply(0, piece, out)
        return True


def scan_span(piece: FloatArray, a: float, y0: float, scale: float, out: FloatArray) -> bool:
    """The scan of ``piece`` (up to :data:`SPAN` values) into ``out``, using
    ``piece`` as scratch (it must not share memory with ``out``).

    False, with nothing written and ``piece`` intact, if ``piece`` or ``y0`` is
    NaN/inf (the caller decides what that means).
    """
    n = len(piece)
    if not math.isfinite(y0):
        return False
    if n <= _DENSE:
        if not math.isfinite(float(np.sum(piece))):
            return False
        _dense_scan(piece, a, y0, out, scale)
        return True
    scan = BlockedScan(n, a, y0, scale)
    scan.row_ends(0, piece)
    return scan.finish(piece, out)


def _scan(
    u: FloatArray, a: float, y0: float, out: FloatArray, scale: float, overwrite: bool
) -> None:
    """The scan of :func:`linear_scan` for ``a != 0``, ``scale != 0``, finite ``y0``.

    Span by span (:data:`SPAN` values, so the span's scratch and row ends
    stay in cache and ``u`` is read once), each carrying in the last value
    of the one before.
    """
    n = len(u)
    direct = overwrite and not np.may_share_memory(u, out)
    buf = None if direct else np.empty(min(n, SPAN))
    carry = y0
    for lo in range(0, n, SPAN):
        hi = min(n, lo + SPAN)
        if buf is None:
            piece = u[lo:hi]
            done = scan_span(piece, a, carry, scale, out[lo:hi])
        else:  # copy the span a chunk at a time, with its row ends while in cache
            piece = buf[: hi - lo]
            scan = BlockedScan(hi - lo, a, carry, scale)
            for c0, c1 in chunk_ranges(hi - lo):
                np.copyto(piece[c0:c1], u[lo + c0 : lo + c1])
                scan.row_ends(c0, piece[c0:c1])
            done = scan.finish(piece, out[lo:hi])
        if not done:
            # From the first NaN/inf on, the recursion is NaN (a finite span
            # whose sums overflow is the only other way here: let it overflow).
            bad = np.flatnonzero(~np.isfinite(u[lo:hi]))
            first = lo + int(bad[0]) if len(bad) else hi
            _scan_loop(u[lo:first], a, carry, out[lo:first], scale)
            out[first:] = np.nan
            if first < hi:
                return
        carry = float(out[hi - 1])


def linear_scan(
    u: FloatArray,
    a: float,
    y0: float,
    out: FloatArray | None = None,
    scale: float = 1.0,
    *,
    overwrite: bool = False,
) -> FloatArray:
    """``y[t] = a * y[t-1] + scale * u[t]`` with ``y[-1] = y0``, for every t.

    Blocked scan (see :class:`BlockedScan`): thin matrix products and a short
    scan over the row ends, span by span; about as fast as TA-Lib's C loop.
    From the first non-finite ``u`` on, the result is NaN (a recursion cannot
    recover from one); a non-finite ``y0`` makes it all NaN. ``out`` may be
    ``u`` itself. ``overwrite=True`` lets the scan use ``u`` as scratch (its
    values are then undefined): for temporaries, it saves a copy.
    """
    n = len(u)
    if out is None:
        out = np.empty(n)
    if n == 0:
        return out
    if not math.isfinite(y0):
        out[:] = np.nan
    elif a == 0.0 or scale == 0.0:  # no memory, or no input: a closed form
        bad = np.flatnonzero(~np.isfinite(u))
        if a == 0.0:
            np.multiply(u, scale, out=out)
        else:
            np.power(a, np.arange(1, n + 1, dtype=np.float64), out=out)
            out *= y0
        if len(bad):
            out[int(bad[0]) :] = np.nan
    else:
        from quantdesk.indicators import _jit

        if _jit.scan is not None:
            _jit.scan(np.ascontiguousarray(u), float(a), float(y0), out, float(scale))
        else:
            _scan(u, float(a), float(y0), out, float(scale), overwrite)
    return out
