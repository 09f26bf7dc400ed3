"""Keeping the cyclic garbage collector's full passes off objects that are known to live on."""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# Allocations between young-generation collections while an import runs, in the importer
# (ingest.pipeline) and in its ingest worker process (CPython's default: 700).
# An import allocates millions of short-lived containers: at 700 the collector ran ~430 young,
# ~40 middle and 3-4 full passes per 20,000 indicators, 0.12-0.13 s of CPU (8-9% of the import,
# gc.callbacks, benchmarks/ingest.py bundle); at 7,000, 36 young and 3 middle passes, 0.045 s.
# With the ingest worker the importer receives each batch's rows as 1,000 new tuples at once, and
# every young pass walked the live batch: at 7,000, 110-245 passes and 0.53-0.77 s of CPU per
# 100,000 objects; at 50,000, 43-44 passes and 0.26 s (gc.callbacks, 2026-11-28; the worker's
# own 0.25-0.37 s -> 0.13 s). Memory is unaffected: refcounting frees almost everything, the
# collector only finds cycles, and 50,000 young containers are a few MB at most.
IMPORT_GC_THRESHOLD = 50_000


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


def set_aside_loaded() -> None:
    """Call right after loading something that stays loaded as long as the process (a lazily
    loaded data set in a module global): where the heap is set aside already (an API server
    from start-up, or inside ``older_objects_frozen``), set aside what has been loaded since as
    well, so that full collections do not walk it again and again. Elsewhere nothing.

    Everything the collector tracks at that moment goes with it, the objects of requests in flight
    included: those freed by reference counting (nearly all) are freed as before; one in a cycle
    that becomes garbage later stays until the freeze ends (a server's shutdown). Once per data
    set per process, so at most a few such objects."""
    if _held:
        gc.freeze()


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


_traced: set[str] = set()


def trace_from_environment() -> None:
    """``CFC_GC_TRACE=<file>``: every collection of this process from now on appended to <file>
    as one JSON line (pid, generation, start as Unix time, seconds, objects collected), for
    ``benchmarks/load.py --trace-gc``. Once per process and file; nothing when unset."""
    path = os.environ.get("CFC_GC_TRACE")
    if not path or path in _traced:
        return
    _traced.add(path)
    # A pass runs to its end holding the GIL, callbacks included: passes never overlap, one slot does.
    started = [0.0, 0.0]  # time.time, perf_counter at the current pass's start

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[:] = time.time(), time.perf_counter()
            return
        line = json.dumps({"pid": os.getpid(), "generation": info["generation"], "start": started[0],
                           "seconds": time.perf_counter() - started[1], "collected": info["collected"]}) + "\n"
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)

    gc.callbacks.append(record)
