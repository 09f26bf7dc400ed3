"""Keeping the cyclic garbage collector's full passes off objects that are known to live on."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def _nothing() -> None:
    return None


# How many freezes of this module's are in force. gc.get_freeze_count() walks every frozen
# object (CPython 3.11 counts the list): with the API server's heap frozen at start-up (app.py),
# 183k objects, 19 ms of CPU for each import (an upload of 100 indicators cost ~70 ms in all;
# 2026-11-27). Asked only when this module froze nothing.
_held = 0


def freeze_long_lived() -> None:
    """``gc.freeze()`` of what lives as long as the process (a server at start-up); remembered
    here, so that ``older_objects_frozen`` need not count the frozen objects to know."""
    global _held
    gc.freeze()
    _held += 1


def unfreeze_long_lived() -> None:
    global _held
    _held -= 1
    gc.unfreeze()


@contextmanager
def older_objects_frozen() -> Iterator[Callable[[], None]]:
    """Set the existing heap aside (``gc.freeze()``, O(1)) for the block, so full collections walk
    only what the block makes; young collections still run, so memory stays bounded, and
    everything is handed back to the oldest generation at the end (``gc.unfreeze()``).

    Yields a function that sets aside, too, what the block has made so far and keeps (e.g. a
    result built in the first step that later steps only read). Left alone when something froze
    the heap already (a pre-fork server, or another such block in this process), since
    ``unfreeze()`` would undo theirs; the function then does nothing."""
    global _held
    if _held or gc.get_freeze_count():
        yield _nothing
        return
    gc.freeze()
    _held += 1
    try:
        yield gc.freeze
    finally:
        _held -= 1
        gc.unfreeze()
