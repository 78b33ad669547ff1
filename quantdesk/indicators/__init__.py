"""Technical indicators, each in two forms that give the same numbers.

* Vectorized, for history, backtests and the batch path: NumPy arrays in
  (lists and pandas Series are accepted), float64 arrays of the same length
  out. Named and parameterized like TA-Lib's functions, in lower case, with
  TA-Lib's NaN warm-up (lookback); values equal TA-Lib's within 1e-9
  relative. ``kdj``, ``vwap`` and ``volume_ratio`` (not in TA-Lib) document
  their definitions.
* Streaming, for live bars: one class per indicator, ``update(...)`` takes a
  bar's values and returns what the vectorized function gives for that bar
  (NaN while warming up), in O(1) time and fixed memory.

=================  ============================  ===========  ======================
indicator          vectorized                    streaming    family module
=================  ============================  ===========  ======================
SMA / EMA / WMA    ``sma`` ``ema`` ``wma``       ``SMA`` ...  ``overlap``
Bollinger Bands    ``bbands`` -> (up, mid, low)  ``BBANDS``   ``overlap``
RSI                ``rsi``                       ``RSI``      ``momentum``
MACD               ``macd`` -> (macd, sig, hist) ``MACD``     ``momentum``
KDJ                ``kdj`` -> (k, d, j)          ``KDJ``      ``momentum``
Williams %R        ``willr``                     ``WILLR``    ``momentum``
ATR                ``atr``                       ``ATR``      ``volatility``
rolling std dev    ``stddev``                    ``STDDEV``   ``volatility``
OBV                ``obv``                       ``OBV``      ``volume``
VWAP               ``vwap``                      ``VWAP``     ``volume``
volume ratio       ``volume_ratio``              ``VolumeRatio`` ``volume``
=================  ============================  ===========  ======================

Example::

    >>> import numpy as np
    >>> from quantdesk.indicators import SMA, sma
    >>> sma(np.array([1.0, 2.0, 3.0, 4.0]), timeperiod=2)
    array([nan, 1.5, 2.5, 3.5])
    >>> live = SMA(2)
    >>> [live.update(v) for v in (1.0, 2.0, 3.0)]
    [nan, 1.5, 2.5]

Invalid periods raise :class:`quantdesk.errors.ConfigError`; inputs of
different lengths or not one-dimensional raise :class:`quantdesk.errors.DataError`.
"""

from quantdesk.indicators._stream import StreamingIndicator
from quantdesk.indicators.momentum import KDJ, MACD, RSI, WILLR, kdj, macd, rsi, willr
from quantdesk.indicators.overlap import BBANDS, EMA, SMA, WMA, bbands, ema, sma, wma
from quantdesk.indicators.volatility import ATR, STDDEV, atr, stddev, true_range
from quantdesk.indicators.volume import OBV, VWAP, VolumeRatio, obv, volume_ratio, vwap

__all__ = [
    "ATR",
    "BBANDS",
    "EMA",
    "KDJ",
    "MACD",
    "OBV",
    "RSI",
    "SMA",
    "STDDEV",
    "VWAP",
    "WILLR",
    "WMA",
    "StreamingIndicator",
    "VolumeRatio",
    "atr",
    "bbands",
    "ema",
    "kdj",
    "macd",
    "obv",
    "rsi",
    "sma",
    "stddev",
    "true_range",
    "volume_ratio",
    "vwap",
    "willr",
    "wma",
]
