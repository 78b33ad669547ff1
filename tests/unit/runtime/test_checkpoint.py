"""The run checkpoint codec: exact floats, NaN and infinities, no code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantdesk.errors import CheckpointError
from quantdesk.runtime.checkpoint import decode, encode


def test_floats_read_back_bit_for_bit() -> None:
    values = [0.1 + 0.2, 1e-300, -2.5e17, 190.08988312345678, math.nan, math.inf, -math.inf]
    state = {"v": 1, "x": values, "n": np.int64(7), "a": np.array([1.5, 2.5]), "s": {3, 1}}
    back = decode(encode(state))
    assert back["n"] == 7 and back["a"] == [1.5, 2.5] and back["s"] == [1, 3]
    for a, b in zip(values, back["x"], strict=True):
        assert (math.isnan(a) and math.isnan(b)) or a.hex() == b.hex()


def test_anything_else_is_a_checkpoint_error() -> None:
    with pytest.raises(CheckpointError, match="not readable"):
        decode(b"\x80\x04\x95pickle")
    with pytest.raises(CheckpointError, match="another format version"):
        decode(b'{"v": 99}')
    with pytest.raises(TypeError, match="not checkpointable"):
        encode({"v": 1, "f": object()})
