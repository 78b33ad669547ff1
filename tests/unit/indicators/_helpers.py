"""Shared data generators and comparison helpers for the indicator tests."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

RTOL = 1e-9


def assert_close(actual: Any, expected: Any, *, scale: float | None = None) -> None:
    """Same NaN positions, values within 1e-9 relative (absolute floor 1e-9 * scale)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    nan_a, nan_e = np.isnan(actual), np.isnan(expected)
    assert np.array_equal(nan_a, nan_e), (
        f"NaN positions differ: ours {np.flatnonzero(nan_a)[:20]}, "
        f"expected {np.flatnonzero(nan_e)[:20]}"
    )
    if scale is None:
        finite = expected[np.isfinite(expected)]
        scale = float(np.max(np.abs(finite))) if finite.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale, equal_nan=True)


@st.composite
def market(draw: st.DrawFn, min_size: int = 0, max_size: int = 150) -> dict[str, np.ndarray]:
    """A random-walk OHLCV series at a random price scale (1e-6 .. 1e6)."""
    n = draw(st.integers(min_size, max_size))
    steps = np.array(draw(st.lists(st.floats(-0.1, 0.1), min_size=n, max_size=n)))
    base = draw(st.floats(1.0, 1000.0))
    scale = draw(st.sampled_from([1e-6, 1e-3, 1.0, 1e3, 1e6]))
    close = base * scale * np.exp(np.cumsum(steps))
    spread = np.array(draw(st.lists(st.floats(0.0, 0.05), min_size=n, max_size=n)))
    up = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    high = close * (1.0 + spread * up)
    low = close * (1.0 - spread * (1.0 - up))
    volume = np.array(
        draw(st.lists(st.integers(0, 10**7).map(float), min_size=n, max_size=n)), dtype=np.float64
    )
    return {"close": close, "high": high, "low": low, "volume": volume}


def run_stream(indicator: Any, *columns: np.ndarray) -> np.ndarray:
    """Feed rows to ``indicator.update``; one column per output (transposed)."""
    outputs = [indicator.update(*row) for row in zip(*(c.tolist() for c in columns), strict=True)]
    return np.array(outputs, dtype=np.float64).T
