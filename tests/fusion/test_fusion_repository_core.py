"""The lookup path's small reads run as prebuilt statements on the session's connection
(db.core): the warninglist signature, value counts and sighting counts give the rows the ORM
session gives for the same statements, and what the policy lets each viewer count."""

from __future__ import annotations

import pytest

from cyberfusion.db import core, transaction
from cyberfusion.fusion import repository, warninglists
from fusion.fusion_helpers import WARNINGLISTS, give, indicator, sighting


@pytest.mark.storage
def test_signature_value_and_sighting_counts_equal_the_sessions_rows(world, tmp_path):
    with transaction(world.factory) as s:
        warninglists.import_paths(s, [WARNINGLISTS / "rfc1918", WARNINGLISTS / "empty-hashes"])
    v = indicator("ipv4-addr", "203.0.113.71")
    b = indicator("ipv4-addr", "203.0.113.71", stix_id="indicator--00000000-0000-4000-8000-0000000007b2")
    give(world, tmp_path, "vendor", [v])
    give(world, tmp_path, "bank", [b], tlp="amber")
    give(world, tmp_path, "ncb_fr", [sighting(v["id"]), sighting(b["id"])], tlp="green")
    give(world, tmp_path, "ncb_fr", [sighting(b["id"], n=2)], tlp="amber")
    key = ("ipv4-addr", "203.0.113.71")
    with transaction(world.factory) as s:
        dialect = s.get_bind().dialect.name
        signature = repository.warninglist_signature(s)
        assert signature == [tuple(r) for r in s.execute(repository._WARNINGLIST_SIGNATURE)]
        assert [(name, enabled) for name, _digest, enabled in signature] == [
            ("List of RFC 1918 CIDR blocks", True), ("List of known hashes for empty files", True)]

        values = [key[1], "203.0.113.72"]
        shape = repository._shape(values)
        q, params = repository._value_counts_statement(dialect, shape), repository._values_param(values, dialect, shape)
        assert core(s).execute(q, params).all() == s.execute(q, params).all()
        assert repository.value_counts(s, [key, ("ipv4-addr", "203.0.113.72")]) == {key: 2}

        # Telco's agreement stops at GREEN: the AMBER sighting is not counted for it.
        for who, expected in (("analyst", {v["id"]: 1, b["id"]: 2}), ("telco", {v["id"]: 1, b["id"]: 1})):
            viewer = world.viewer(who)
            q = repository._sightings_statement(viewer, "investigation", dialect, "inline")
            params = {"refs": sorted([v["id"], b["id"]])}
            assert core(s).execute(q, params).all() == s.execute(q, params).all()
            assert repository.sighting_counts(s, viewer=viewer, purpose="investigation",
                                              stix_ids=[v["id"], b["id"]]) == expected
