"""The runner's checkpoint: where ``quantdesk run`` restarts, stored as data.

One row of ``stream_checkpoints`` per source (group :data:`GROUP`, topic
``run:<source>``, partition 0, ``offset`` = the event time it covers), written
through the store's checkpoint API, which stores plain data as tagged JSON
(:mod:`quantdesk.storage.checkpoints`: exact floats, NaN and infinities, no
pickle, so nothing in it can execute code when read).

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

from typing import Any, Final

from quantdesk.errors import CheckpointError
from quantdesk.storage.base import Store

__all__ = ["GROUP", "VERSION", "load", "save", "topic"]

GROUP: Final = "quantdesk-run"
VERSION: Final = 1


def topic(source_name: str) -> str:
    """The checkpoint row's topic for a source."""
    return f"run:{source_name}"


def save(store: Store, source_name: str, position: int, state: dict[str, Any]) -> None:
    """Store ``state`` (``v`` added) as the checkpoint of ``source_name`` at ``position``."""
    store.save_checkpoint(GROUP, topic(source_name), 0, position, {"v": VERSION, **state})


def load(store: Store, source_name: str) -> dict[str, Any] | None:
    """The stored checkpoint of ``source_name`` (``None`` if there is none, or one the store
    could not read); :class:`CheckpointError` for one of another format version."""
    saved = store.load_checkpoint(GROUP, topic(source_name), 0)
    if saved is None:
        return None
    _offset, state = saved
    if not isinstance(state, dict) or state.get("v") != VERSION:
        raise CheckpointError("the run checkpoint is of another format version")
    return state
