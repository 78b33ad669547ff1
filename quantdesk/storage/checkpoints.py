"""Operator checkpoints as data, never as code.

A stream consumer stores the state of its operators with the offset it covers
(``stream_checkpoints.state``). Earlier releases stored a pickle there, so
anyone able to write that row could run code in every worker that loaded it.
The state is now orjson with explicit type tags for what JSON cannot say on
its own, and loading it never calls anything named by the data:

===============================  ============================================
value                            stored as
===============================  ============================================
None, bool, str, list            themselves
int (64-bit)                     itself; larger ``{"$t": "int", "v": "123..."}``
float                            itself (exact: orjson writes the shortest
                                 repr); NaN and infinities
                                 ``{"$t": "float", "v": "nan" | "inf" | "-inf"}``
tuple                            ``{"$t": "tuple", "v": [...]}``
dict of str keys (no ``"$t"``)   itself
any other dict                   ``{"$t": "dict", "v": [[key, value], ...]}``
===============================  ============================================

That covers what the operators' ``snapshot()`` methods put in a checkpoint
(:class:`~quantdesk.runtime.pipeline.StreamProcessor`: bar accumulators,
indicator ring buffers with NaN and infinities, signal series). Anything else
is refused when saving (:class:`~quantdesk.errors.DataError`), so a state that
could not be read back is never stored.

A stored state that is not in this format (a pickle of an earlier release,
or damaged bytes) is not loaded: :func:`decode` raises, the store logs one
line and answers "no checkpoint", and the consumer starts that partition afresh (bars are idempotent
upserts, so processing the retained messages again rewrites the same rows).
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import orjson

from quantdesk.errors import DataError

__all__ = ["FORMAT", "decode", "encode"]

#: The envelope's format name; a new incompatible layout gets a new version.
FORMAT: Final = "quantdesk.checkpoint/1"
_TAG: Final = "$t"
_INT64: Final = (-(2**63), 2**63 - 1)


def _enc(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        value = int(value)
        if _INT64[0] <= value <= _INT64[1]:
            return value
        return {_TAG: "int", "v": str(value)}
    if isinstance(value, float):
        value = float(value)
        if math.isfinite(value):
            return value
        return {
            _TAG: "float",
            "v": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"),
        }
    if isinstance(value, list):
        return [_enc(v) for v in value]
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [_enc(v) for v in value]}
    if isinstance(value, dict):
        if _TAG not in value and all(type(k) is str for k in value):
            return {k: _enc(v) for k, v in value.items()}
        return {_TAG: "dict", "v": [[_enc(k), _enc(v)] for k, v in value.items()]}
    raise DataError(
        f"checkpoint state holds a {type(value).__name__}: only None, bool, int, float, str,"
        " list, tuple and dict can be stored"
    )


_FLOATS: Final = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _dec(value: Any) -> Any:
    if isinstance(value, list):
        return [_dec(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(_TAG)
    if tag is None:
        return {k: _dec(v) for k, v in value.items()}
    body = value.get("v")
    if tag == "float" and body in _FLOATS:
        return _FLOATS[body]
    if tag == "int" and isinstance(body, str):
        return int(body)
    if tag == "tuple" and isinstance(body, list):
        return tuple(_dec(v) for v in body)
    if tag == "dict" and isinstance(body, list):
        return {_hashable(_dec(k)): _dec(v) for k, v in body}
    raise ValueError(f"unknown type tag {tag!r}")


def _hashable(key: Any) -> Any:
    if isinstance(key, list | dict):
        raise ValueError("a dict key must be hashable")
    return key


def encode(state: Any) -> bytes:
    """``state`` as checkpoint bytes (raises :class:`DataError` for what cannot be stored)."""
    return orjson.dumps({"format": FORMAT, "state": _enc(state)})


def decode(blob: bytes) -> Any:
    """The state stored by :func:`encode`.

    Never unpickles: a pickle of an earlier release is recognised by its first
    byte, and it, damaged or foreign bytes raise :class:`DataError` (one line).
    """
    data = bytes(blob)
    if data[:1] == b"\x80":
        raise DataError("it holds a pickle (an earlier release's format)")
    try:
        doc = orjson.loads(data)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or "state" not in doc:
            raise ValueError(f"not a {FORMAT} document")
        return _dec(doc["state"])
    except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise DataError(f"it is unreadable: {' '.join(str(exc).split())}") from None
