"""Keeping the cyclic garbage collector's full passes off objects that are known to live on."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def _nothing() -> None:
    return None


@contextmanager
def older_objects_frozen() -> Iterator[Callable[[], None]]:
    """Set the existing heap aside (``gc.freeze()``, O(1)) for the block, so full collections walk
    only what the block makes; young collections still run, so memory stays bounded, and
    everything is handed back to the oldest generation at the end (``gc.unfreeze()``).

    Yields a function that sets aside, too, what the block has made so far and keeps (e.g. a
    result built in the first step that later steps only read). Left alone when something froze
    the heap already (a pre-fork server, or another such block in this process), since
    ``unfreeze()`` would undo theirs; the function then does nothing."""
    if gc.get_freeze_count():
        yield _nothing
        return
    gc.freeze()
    try:
        yield gc.freeze
    finally:
        gc.unfreeze()
