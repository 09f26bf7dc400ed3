"""db.for_update: a row read to be changed stays the reader's until it commits, on both backends
(SQLite ignores FOR UPDATE: there the database's write lock is taken before the read)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from cyberfusion.db import for_update, transaction
from cyberfusion.partners.models import Organisation


def test_a_second_reader_for_update_waits_and_sees_the_first_ones_change(world):
    org_id = world.orgs["vendor"]
    seen: list[str] = []
    first_has_it = threading.Event()

    def second() -> None:
        first_has_it.wait(10)
        with transaction(world.factory) as s:
            org = s.scalar(for_update(s, select(Organisation).where(Organisation.id == org_id)))
            seen.append(org.name)
            org.name = org.name + " +second"

    t = threading.Thread(target=second)
    t.start()
    with transaction(world.factory) as s:
        org = s.scalar(for_update(s, select(Organisation).where(Organisation.id == org_id)))
        original = org.name
        first_has_it.set()
        time.sleep(0.3)  # the second reader is waiting now, not reading the old name
        org.name = original + " +first"
    t.join(20)
    assert seen == [original + " +first"]
    with world.factory() as s:
        assert s.get(Organisation, org_id).name == original + " +first +second"
