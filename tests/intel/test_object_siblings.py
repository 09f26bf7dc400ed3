"""stix_objects.has_siblings (migration 0002): false exactly while a row is the only one of its STIX
id, kept by the database for every writer, back-filled by the migration; readers that choose a
version skip the seek for such rows and still serve exactly the right version."""

from __future__ import annotations

from alembic import command
from sqlalchemy import delete, select, text

from cyberfusion.db import alembic_config, transaction, upgrade
from cyberfusion.intel.models import StixObject
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.taxii import collections as cols
from cyberfusion.taxii import repository as taxii_repo
from cyberfusion.taxii.repository import Query, VersionSel
from sharing.helpers import contribute, indicator

V1, V2 = "2026-10-01T00:00:00.000Z", "2026-10-05T00:00:00.000Z"
A, B, C = (f"indicator--0000000{i}-0000-4000-8000-000000000000" for i in (1, 2, 3))


def _flags(world) -> dict[str, list[bool]]:
    with transaction(world.factory) as s:
        rows = s.execute(select(StixObject.stix_id, StixObject.has_siblings).order_by(StixObject.pk)).all()
    flags: dict[str, list[bool]] = {}
    for stix_id, flag in rows:
        flags.setdefault(stix_id, []).append(bool(flag))
    return flags


def _exact(world) -> None:
    """With nothing deleted, the flag is exactly "another row of this id exists"."""
    for stix_id, flags in _flags(world).items():
        assert flags == [len(flags) > 1] * len(flags), stix_id


def _served(world, key: str, sel: VersionSel) -> list[tuple[str, str]]:
    with transaction(world.factory) as s:
        rows = taxii_repo.page(s, viewer=world.viewer(key), purpose="network_defence",
                               m=cols.builtin("all").membership, q=Query(versions=sel), after=None, limit=100,
                               columns="manifest")
    return sorted((r[2], taxii_repo.as_utc(r[3]).strftime("%Y-%m-%d")) for r in rows)


def test_the_database_marks_every_row_of_an_id_stored_more_than_once(world, tmp_path):
    green = HandlingSpec(tlp="green")
    # One import: a single object, and an object with two versions in the same INSERT statement.
    contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", "10.0.0.1", stix_id=A),
                                           indicator("ipv4-addr", "10.0.0.2", stix_id=B),
                                           indicator("ipv4-addr", "10.0.0.2", stix_id=B, modified=V2)], green)
    assert _flags(world) == {A: [False], B: [True, True]}
    # A later import by another organisation of the same version of A: both of A's rows.
    contribute(world, tmp_path, "bank", [indicator("ipv4-addr", "10.0.0.1", stix_id=A),
                                         indicator("ipv4-addr", "10.0.0.3", stix_id=C)], green)
    assert _flags(world) == {A: [True, True], B: [True, True], C: [False]}
    # A newer version of C from its owner.
    contribute(world, tmp_path, "bank", [indicator("ipv4-addr", "10.0.0.3", stix_id=C, modified=V2)], green)
    _exact(world)
    assert _served(world, "analyst", VersionSel(last=True)) == [(A, "2026-10-01"), (B, "2026-10-05"),
                                                                  (C, "2026-10-05")]
    assert _served(world, "analyst", VersionSel(first=True)) == [(A, "2026-10-01"), (B, "2026-10-01"),
                                                                   (C, "2026-10-01")]
    assert len(_served(world, "analyst", VersionSel(all=True))) == 5  # A once: the duplicate is served once


def test_a_flag_left_true_by_a_deletion_only_costs_the_seek(world, tmp_path):
    contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", "10.0.0.2", stix_id=B),
                                           indicator("ipv4-addr", "10.0.0.2", stix_id=B, modified=V2)],
               HandlingSpec(tlp="green"))
    with transaction(world.factory) as s:
        s.execute(delete(StixObject).where(StixObject.stix_id == B, StixObject.modified > StixObject.created))
    assert _flags(world) == {B: [True]}
    assert _served(world, "analyst", VersionSel(last=True)) == [(B, "2026-10-01")]


def test_the_migration_back_fills_and_goes_down_and_up(engine, world, tmp_path):
    contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", "10.0.0.1", stix_id=A),
                                           indicator("ipv4-addr", "10.0.0.2", stix_id=B),
                                           indicator("ipv4-addr", "10.0.0.2", stix_id=B, modified=V2)],
               HandlingSpec(tlp="green"))
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0004@-3")  # this branch's head (0004), 0003 and 0002 down
        with engine.connect() as conn:
            columns = [r[1] for r in conn.execute(text("PRAGMA table_info(stix_objects)"))] \
                if engine.dialect.name == "sqlite" else list(conn.execute(text(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'stix_objects' "
                    "AND table_schema = current_schema()")).scalars())
        assert "has_siblings" not in columns
        # Rows stored while the column and its trigger were absent.
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO stix_objects (stix_id, type, spec_version, modified, revoked, data, "
                              "contribution_id, organisation_id, handling_id, date_added) "
                              "SELECT stix_id, type, spec_version, :m, revoked, data, contribution_id, "
                              "organisation_id, handling_id, date_added FROM stix_objects WHERE stix_id = :a"),
                         {"m": "2026-10-09 00:00:00.000000", "a": A})
    finally:
        upgrade(engine)
    _exact(world)
    assert _flags(world)[A] == [True, True]
