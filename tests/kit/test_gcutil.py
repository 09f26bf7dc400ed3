"""older_objects_frozen sets the heap aside for a block and hands it back; a frozen heap is left alone.

Whether an object is frozen is read from the collector's generations (``gc.get_objects()`` lists
every tracked object except the frozen ones), not from ``gc.get_freeze_count()``: frozen objects
freed meanwhile by any thread of the test process lower that count at any moment."""

from __future__ import annotations

import gc

from cyberfusion.kit.gcutil import older_objects_frozen


def _frozen(obj: object) -> bool:
    return gc.is_tracked(obj) and not any(o is obj for o in gc.get_objects())


def test_the_heap_is_set_aside_for_the_block_and_handed_back() -> None:
    assert gc.get_freeze_count() == 0
    older = [[n] for n in range(10)]
    with older_objects_frozen() as set_aside:
        assert gc.get_freeze_count() > 0 and _frozen(older)
        kept = [[n] for n in range(1000)]
        assert not _frozen(kept)
        set_aside()
        assert _frozen(kept) and all(_frozen(k) for k in kept[:10])
    assert gc.get_freeze_count() == 0
    assert not _frozen(older) and not _frozen(kept)


def test_a_heap_frozen_by_someone_else_is_left_alone() -> None:
    theirs = [[n] for n in range(10)]
    gc.freeze()
    try:
        with older_objects_frozen() as set_aside:
            kept = [[n] for n in range(1000)]
            set_aside()
            assert _frozen(theirs) and not _frozen(kept)  # nothing more set aside
        assert _frozen(theirs) and not _frozen(kept) and len(kept) == 1000  # theirs not handed back
    finally:
        gc.unfreeze()


def test_a_heap_frozen_through_freeze_long_lived_is_left_alone_without_counting(monkeypatch) -> None:
    """The server's start-up freeze (app.py) is remembered: no gc.get_freeze_count(), which walks
    every frozen object (19 ms at the server's 183k), on each import; nested blocks likewise."""
    from cyberfusion.kit import gcutil

    theirs = [[n] for n in range(10)]
    gcutil.freeze_long_lived()
    try:
        monkeypatch.setattr(gc, "get_freeze_count", lambda: (_ for _ in ()).throw(AssertionError("counted")))
        with older_objects_frozen() as set_aside:
            kept = [[n] for n in range(1000)]
            set_aside()
            assert _frozen(theirs) and not _frozen(kept)
        assert _frozen(theirs)
    finally:
        monkeypatch.undo()
        gcutil.unfreeze_long_lived()
    assert gc.get_freeze_count() == 0 and not _frozen(theirs)

    with older_objects_frozen():  # a block inside a block of this module's: the outer one stays
        inner = [[n] for n in range(10)]
        monkeypatch.setattr(gc, "get_freeze_count", lambda: (_ for _ in ()).throw(AssertionError("counted")))
        with older_objects_frozen() as set_aside:
            set_aside()
            assert not _frozen(inner)
        monkeypatch.undo()
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_what_is_loaded_after_a_servers_freeze_is_set_aside_too() -> None:
    """set_aside_loaded: where the heap is set aside (a server from start-up), a data set loaded
    later joins it until the freeze ends; in a process that froze nothing it does nothing."""
    from cyberfusion.kit import gcutil

    loaded = [[n] for n in range(1000)]
    gcutil.set_aside_loaded()
    assert gc.get_freeze_count() == 0 and not _frozen(loaded)  # nothing frozen: left alone

    gcutil.freeze_long_lived()
    try:
        later = [[n] for n in range(1000)]
        assert not _frozen(later)
        gcutil.set_aside_loaded()
        assert _frozen(later) and all(_frozen(x) for x in later[:10])
    finally:
        gcutil.unfreeze_long_lived()
    assert gc.get_freeze_count() == 0 and not _frozen(later)


def test_a_full_collection_no_longer_walks_the_geolocation_tables_once_loaded_in_a_server() -> None:
    """kit/geoip.py and products.geo's flat tables: ~5.6 million ints in lists, which every full
    pass walked (82-113 ms in the load test's server processes) until they were set aside."""
    import geoip2fast.geoip2fast as data

    from cyberfusion.kit import gcutil, geoip
    from cyberfusion.products import geo

    gcutil.freeze_long_lived()
    try:
        saved = geoip._reader, geo._tables
        geoip._reader = geo._tables = None  # loaded afresh, as on a server's first upload
        try:
            tables = geo._fast()  # what locate_ip reads: the reader loaded, then the flat tables
            assert tables.country(int.from_bytes(bytes([8, 8, 8, 8]), "big"), True) == "US"
            assert _frozen(tables.first) and _frozen(tables.asn_first)
            assert _frozen(data.mainListFirstIP) and _frozen(data.mainListFirstIP[0])
        finally:
            geoip._reader, geo._tables = saved
    finally:
        gcutil.unfreeze_long_lived()


def test_the_public_suffix_trie_built_in_a_server_is_set_aside() -> None:
    from cyberfusion.kit import gcutil, observables

    gcutil.freeze_long_lived()
    try:
        observables._suffix_trie.cache_clear()  # built afresh, as on a server's first name
        root = observables._suffix_trie()
        assert _frozen(root) and _frozen(root.children["uk"]) and _frozen(root.children["uk"].children)
        assert observables.public_suffix("www.example.co.uk") == "co.uk"
    finally:
        gcutil.unfreeze_long_lived()
    assert not _frozen(root)


def test_cfc_gc_trace_records_each_pass_of_the_process(tmp_path, monkeypatch) -> None:
    import json
    import os

    from cyberfusion.kit import gcutil

    path = tmp_path / "gc.trace"
    monkeypatch.setenv("CFC_GC_TRACE", str(path))
    before = list(gc.callbacks)
    try:
        gcutil.trace_from_environment()
        gcutil.trace_from_environment()  # once per process and file
        assert len(gc.callbacks) == len(before) + 1
        gc.collect(2)
        gc.collect(0)
    finally:
        gc.callbacks[:] = before
        gcutil._traced.discard(str(path))
    passes = [json.loads(line) for line in path.read_text().splitlines()]
    assert [p["generation"] for p in passes] == [2, 0]
    assert all(p["pid"] == os.getpid() and p["seconds"] >= 0 and p["collected"] >= 0 for p in passes)
    monkeypatch.delenv("CFC_GC_TRACE")
    gcutil.trace_from_environment()
    assert gc.callbacks == before
