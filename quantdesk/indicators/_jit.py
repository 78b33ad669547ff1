"""Compiled one-pass loops (Numba) for the recursions that NumPy cannot vectorize.

A first-order recursion ``y[t] = a * y[t-1] + scale * u[t]`` (EMA, Wilder's
smoothing) is inherently sequential; NumPy needs a blocked matrix scan for
it, while a compiled loop reads the input once, as TA-Lib's C does. The
loops here are used when Numba is installed (it is a dependency) and fall
back to the NumPy paths otherwise. Compiled code is cached next to this file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from quantdesk.indicators._core import FloatArray

scan: Callable[[FloatArray, float, float, FloatArray, float], None] | None = None
wilder_range: (
    Callable[[FloatArray, FloatArray, FloatArray, float, float, float, FloatArray], bool] | None
) = None

try:  # numba is a dependency; the NumPy fallback is for platforms without a wheel
    import numba as _numba

    _jit: Any = _numba.njit(cache=True, nogil=True, fastmath=False)
except ImportError:  # pragma: no cover
    _jit = None

if _jit is not None:

    @_jit
    def _scan(u: FloatArray, a: float, y0: float, out: FloatArray, scale: float) -> None:
        y = y0
        n = u.shape[0]
        for i in range(n):
            x = u[i]
            if not math.isfinite(x):
                for j in range(i, n):
                    out[j] = np.nan
                return
            y = a * y + scale * x
            out[i] = y

    @_jit
    def _wilder_range(
        high: FloatArray,
        low: FloatArray,
        prev: FloatArray,
        a: float,
        y0: float,
        scale: float,
        out: FloatArray,
    ) -> bool:
        y = y0
        for i in range(out.shape[0]):
            h = high[i]
            lo = low[i]
            p = prev[i]
            if not (math.isfinite(h) and math.isfinite(lo) and math.isfinite(p)) or h < lo:
                return False
            tr = max(h, p) - min(lo, p)
            y = a * y + scale * tr
            out[i] = y
        return True

    @_jit
    def _macd_line(
        u: FloatArray, k_fast: float, k_slow: float, fast: float, slow: float, out: FloatArray
    ) -> None:
        # the two EMAs of linear_scan (a = 1 - k), in one pass: out = fast - slow
        a_fast = 1.0 - k_fast
        a_slow = 1.0 - k_slow
        n = u.shape[0]
        for i in range(n):
            x = u[i]
            if not math.isfinite(x):
                for j in range(i, n):
                    out[j] = np.nan
                return
            fast = a_fast * fast + k_fast * x
            slow = a_slow * slow + k_slow * x
            out[i] = fast - slow

    scan = _scan
    macd_line = _macd_line
    wilder_range = _wilder_range
