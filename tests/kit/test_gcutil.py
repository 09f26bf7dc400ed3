"""older_objects_frozen sets the heap aside for a block and hands it back; a frozen heap is left alone."""

from __future__ import annotations

import gc

from cyberfusion.kit.gcutil import older_objects_frozen


def test_the_heap_is_set_aside_for_the_block_and_handed_back() -> None:
    assert gc.get_freeze_count() == 0
    with older_objects_frozen() as set_aside:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        kept = [[n] for n in range(1000)]
        set_aside()
        assert gc.get_freeze_count() >= frozen + len(kept)
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_by_someone_else_is_left_alone() -> None:
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        with older_objects_frozen() as set_aside:
            kept = [[n] for n in range(1000)]
            set_aside()
            assert gc.get_freeze_count() == before
        assert gc.get_freeze_count() == before and len(kept) == 1000
    finally:
        gc.unfreeze()
