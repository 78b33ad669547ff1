"""The runner's checkpoint: where ``quantdesk run`` restarts, stored as data.

One row of ``stream_checkpoints`` per source (group :data:`GROUP`, topic
``run:<source>``, partition 0, ``offset`` = the event time it covers), written
through the store's checkpoint API. The state is JSON (:func:`encode`): floats
are written so they read back bit for bit (``repr``), NaN and infinities
included, so a restored operator continues exactly; nothing in it can execute
code when read (no pickle).

=============  ==================================================================
key            what
=============  ==================================================================
``v``          format version (:data:`VERSION`)
``spec``       the source spec (``simulator``, ``replay:PATH`` ...)
``market``     the market; ``test``: sessions ignored; ``symbols``: the universe
``position``   event time every message before which is in the state below
``source``     the source's :meth:`~quantdesk.sources.base.LiveSource.snapshot`
``tweets``     ``{"spec", "state"}`` of the tweet source, or ``None``
``processor``  :meth:`~quantdesk.runtime.pipeline.StreamProcessor.snapshot`
=============  ==================================================================
"""

from __future__ import annotations

import json
from typing import Any, Final

import numpy as np

from quantdesk.errors import CheckpointError
from quantdesk.storage.base import Store

__all__ = ["GROUP", "VERSION", "decode", "encode", "load", "save"]

GROUP: Final = "quantdesk-run"
VERSION: Final = 1


def _plain(obj: object) -> object:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise TypeError(f"not checkpointable: {type(obj).__name__}")


def encode(state: dict[str, Any]) -> bytes:
    """The state as JSON bytes (exact floats; NaN and infinities as ``NaN``/``Infinity``)."""
    return json.dumps(state, default=_plain, separators=(",", ":")).encode()


def decode(blob: bytes) -> dict[str, Any]:
    """What :func:`encode` wrote; :class:`CheckpointError` for anything else."""
    try:
        state = json.loads(blob)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"the run checkpoint is not readable ({exc})") from None
    if not isinstance(state, dict) or state.get("v") != VERSION:
        raise CheckpointError("the run checkpoint is of another format version")
    return state


def topic(source_name: str) -> str:
    return f"run:{source_name}"


def save(store: Store, source_name: str, position: int, state: dict[str, Any]) -> None:
    """Store ``state`` (``v`` added) as the checkpoint of ``source_name`` at ``position``."""
    store.save_checkpoint(GROUP, topic(source_name), 0, position, encode({"v": VERSION, **state}))


def load(store: Store, source_name: str) -> dict[str, Any] | None:
    """The stored checkpoint of ``source_name`` (``None`` if there is none)."""
    saved = store.load_checkpoint(GROUP, topic(source_name), 0)
    if saved is None:
        return None
    _offset, blob = saved
    return decode(blob)
