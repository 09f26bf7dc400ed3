"""The batch lookup answers, writes and audits exactly what it did before its set-based rewrite.

``lookup_equivalence.json`` was captured from the implementation before 2026-11-27's batch work
(commit 41ad458), on SQLite, and checked on PostgreSQL too: for a fixture with several owners,
hit reveal yes and no, named/sector/anonymous attribution, an object-level handling override,
values above the "common" threshold, warninglisted values, CIDR containment both ways, host
matches, more than 20 objects behind one value, sightings, an expired contribution, viewers the
handling denies, the owner asking about its own data, duplicates, defanged input, invalid values,
a batch long enough for the one-parameter (table) path, and asking again (renewed notifications).
Compared: every answer in full, every notification row,
every hit row, each lookup row (counts, digests) and each audit entry. References are random:
each is replaced by the (owner, asker, kind, value) of its notification.

To capture again (only when a change of behaviour is intended and reviewed):
``CFC_CAPTURE_LOOKUP=1 pytest tests/fusion/test_fusion_lookup_equivalence.py -k sqlite``.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from cyberfusion.audit.models import AuditEntry
from cyberfusion.config import get_settings
from cyberfusion.db import transaction, utcnow
from cyberfusion.fusion import hits, warninglists
from cyberfusion.fusion.models import HitNotification, Lookup, LookupHit
from cyberfusion.groupcommit import GroupCommit
from fusion.fusion_helpers import WARNINGLISTS, give, indicator, multi, sighting

EXPECTED = Path(__file__).with_name("lookup_equivalence.json")
RED_V2 = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
SECRET = "equivalence-test-secret-key-0123456789abcdef"


def _sid(n: int) -> str:
    return f"indicator--00000000-0000-4000-8000-{n:012x}"


def _seed(world, tmp_path) -> None:
    with transaction(world.factory) as s:
        warninglists.import_paths(s, [WARNINGLISTS / "rfc1918"])
    shared = "203.0.113.77"
    many = "many-objects.example.org"
    md5, sha256 = "a" * 31 + "b", "c" * 63 + "d"
    vendor = [indicator("ipv4-addr", shared, stix_id=_sid(1)),
              indicator("ipv4-addr", "198.51.100.0/24", stix_id=_sid(2)),
              indicator("url", "https://cdn.evil-host.example.com/payload?x=1", stix_id=_sid(3)),
              indicator("email-addr", "phisher@evil-host.example.com", stix_id=_sid(4)),
              indicator("ipv4-addr", "10.20.30.40", stix_id=_sid(5)),
              multi("file", [("md5", md5), ("sha256", sha256)], stix_id=_sid(6)),
              indicator("domain-name", "override.example.net", stix_id=_sid(7), marking=RED_V2),
              indicator("ipv6-addr", "2001:db8::1", stix_id=_sid(8)),
              sighting(_sid(1)), sighting(_sid(1), n=2), sighting(_sid(6))]
    vendor += [indicator("domain-name", many, stix_id=_sid(100 + i)) for i in range(23)]
    give(world, tmp_path, "vendor", vendor, attribution="anonymous")
    give(world, tmp_path, "bank", [indicator("ipv4-addr", shared, stix_id=_sid(11)),
                                   indicator("domain-name", "evil-bank.example.com", stix_id=_sid(12)),
                                   indicator("ipv4-addr", "198.51.100.9", stix_id=_sid(13))],
         tlp="amber", attribution="sector", hit_reveal=False)
    give(world, tmp_path, "telco", [indicator("ipv4-addr", shared, stix_id=_sid(21)),
                                    indicator("ipv4-addr", "192.0.2.0/28", stix_id=_sid(22)),
                                    indicator("sha256", sha256, stix_id=_sid(23)),
                                    indicator("domain-name", many, stix_id=_sid(24))],
         tlp="green", denied_countries=("RU",))
    give(world, tmp_path, "bank", [indicator("url", "http://pay.example.net/x", stix_id=_sid(31))],
         tlp="green", recipients=("vendor",))
    give(world, tmp_path, "telco", [indicator("ipv4-addr", "203.0.113.200", stix_id=_sid(41))],
         expires_at=utcnow() - timedelta(minutes=1))
    give(world, tmp_path, "le_gb", [indicator("domain-name", "le-only.example.org", stix_id=_sid(51)),
                                    indicator("ipv4-addr", shared, stix_id=_sid(52))],
         tlp="amber", le_only=True, purposes=("investigation",))


ASKED = ["203.0.113.77", "203.0.113[.]77", " 203.0.113.77 ", "198.51.100.77", "198.51.0.0/16", "192.0.2.5",
         "192.0.2.0/24", "evil-host.example.com", "EVIL-HOST.example.com", "hxxps://cdn[.]evil-host.example.com/payload?x=1",
         "phisher[@]evil-host.example.com", "10.20.30.40", "A" * 31 + "B", "c" * 63 + "d", "override.example.net",
         "2001:db8:0:0:0:0:0:1", "many-objects.example.org", "evil-bank.example.com", "198.51.100.9",
         "http://pay.example.net/x", "203.0.113.200", "le-only.example.org", "not a value", "", "999.1.1.1",
         "no-such-host.example.com", "192.0.2.250", 17, None]


def _large() -> list[Any]:
    # Above repository._INLINE_VALUES: the values travel as one JSON/array parameter.
    return ASKED + [f"203.0.{i // 256}.{i % 256}" for i in range(250)] + [f"h{i}.example.net" for i in range(60)] + ASKED


LOOKUPS = [  # (viewer, purpose, values, kind)
    ("ncb_fr", "investigation", ASKED, None),
    ("ncb_ru", "investigation", ASKED, None),  # telco's data denies RU
    ("telco", "investigation", ASKED, None),  # amber above its ceiling; its own data always
    ("le_gb", "investigation", ASKED, None),
    ("vendor", "network_defence", ASKED, None),
    ("bank", "investigation", ASKED, None),  # hit reveal "no" never hides its own data
    ("ncb_fr", "investigation", _large(), None),  # asking again: renewed notifications
    ("ncb_fr", "investigation", ["203.0.113.77", "198.51.100.77", "evil-host.example.com"], "ipv4-addr"),
    ("intl", "research", ASKED, None),
]


def _norm(x: Any, now: datetime) -> Any:
    if isinstance(x, dict):
        return {k: _norm(v, now) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_norm(v, now) for v in x]
    if isinstance(x, datetime):
        return "<now>" if x == now else x.isoformat()
    return x


def _snapshot(world, tmp_path, writer: GroupCommit | None = None) -> dict[str, Any]:
    _seed(world, tmp_path)
    settings = get_settings().model_copy(update={"secret_key": SECRET, "common_threshold": 2})
    org_key = {v: k for k, v in world.orgs.items()}
    member_key = {v: k for k, v in world.members.items()}
    now = utcnow().replace(microsecond=0)
    answers, lookup_ids = [], []
    for who, purpose, values, kind in LOOKUPS:
        with transaction(world.factory) as s:
            r = hits.lookup(s, viewer=world.viewer(who), purpose=purpose, values=values, kind=kind,
                            settings=settings, now=now, writer=writer)
        lookup_ids.append(r.lookup_id)
        answers.append(json.loads(json.dumps(_norm(r.as_dict(), now))))  # copies: results share lists
    lid = {v: i for i, v in enumerate(lookup_ids)}
    with world.factory() as s:
        notes = list(s.scalars(select(HitNotification).order_by(HitNotification.id)))
        ref = {n.reference: f"{org_key[n.owner_org_id]}/{org_key[n.asker_org_id]}/{n.kind}/{n.value}/{n.purpose}"
               for n in notes}
        notifications = [{"reference": ref[n.reference], "owner": org_key[n.owner_org_id],
                          "asker": org_key[n.asker_org_id], "asker_member": member_key[n.asker_member_id],
                          "kind": n.kind, "value": n.value, "purpose": n.purpose, "lookup": lid[n.lookup_id],
                          "object_ids": n.object_ids, "owner_label": n.owner_label, "asker_told": n.asker_told,
                          "times_asked": n.times_asked, "first_asked_at": n.first_asked_at,
                          "last_asked_at": n.last_asked_at, "status": n.status, "decision": n.decision}
                         for n in notes]
        # Sorted: the order of one lookup's new notifications followed the match query's row order,
        # which no ORDER BY fixes (SQLite and PostgreSQL already differed before).
        notifications.sort(key=lambda n: n["reference"])
        hit_rows = sorted(([lid[h.lookup_id], h.kind, h.value, h.answer, [ref[x] for x in h.references]]
                           for h in s.scalars(select(LookupHit))), key=lambda r: (r[0], r[1], r[2]))
        lookups = [{"lookup": lid[x.id], "member": member_key[x.member_id], "org": org_key[x.organisation_id],
                    "secondment_id": x.secondment_id, "purpose": x.purpose, "created_at": x.created_at,
                    "value_count": x.value_count, "hit_count": x.hit_count, "notified_count": x.notified_count,
                    "digests": x.digests.hex()}
                   for x in s.scalars(select(Lookup).order_by(Lookup.id))]
        audit = [{"member": member_key[e.member_id], "org": org_key[e.organisation_id], "purpose": e.purpose,
                  "object_ids": e.object_ids, "detail": {**e.detail, "lookup_id": lid[e.detail["lookup_id"]]}}
                 for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "fusion.lookup")
                                    .order_by(AuditEntry.id))]
    for a in answers:
        a["lookup_id"] = lid[a["lookup_id"]]
        for r in a["results"]:
            for x in r.get("references", ()):
                x["reference"] = ref[x["reference"]]
    return _norm({"answers": answers, "notifications": notifications, "hit_rows": hit_rows, "lookups": lookups,
                  "audit": audit}, now)


def test_lookup_answers_and_writes_are_unchanged(world, tmp_path):
    got = json.loads(json.dumps(_snapshot(world, tmp_path)))
    if os.environ.get("CFC_CAPTURE_LOOKUP"):
        EXPECTED.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    expected = json.loads(EXPECTED.read_text())
    for part in ("lookups", "audit", "hit_rows", "notifications"):
        assert got[part] == expected[part], part
    for i, (g, e) in enumerate(zip(got["answers"], expected["answers"], strict=True)):
        assert g["counts"] == e["counts"], i
        for j, (gr, er) in enumerate(zip(g["results"], e["results"], strict=True)):
            assert gr == er, (i, j)
        assert g == e, i


def test_the_group_writer_answers_and_writes_the_same(world, tmp_path, engine):
    """The API's path on SQLite (groupcommit.py): the rows written by the process's writer, in its
    own transaction, and the same answers and rows as in the caller's transaction (lookups of more
    than GROUP_MAX_VALUES values, here the long one, still write in the caller's)."""
    writer = GroupCommit(engine)
    try:
        got = json.loads(json.dumps(_snapshot(world, tmp_path, writer)))
    finally:
        writer.close()
    assert writer.batches == sum(len(v) <= hits.GROUP_MAX_VALUES for _w, _p, v, _k in LOOKUPS)
    expected = json.loads(EXPECTED.read_text())
    for part in ("lookups", "audit", "hit_rows", "notifications", "answers"):
        assert got[part] == expected[part], part


def test_json_strings_is_json_dumps():
    import random
    rng = random.Random(5)
    alphabet = "aZ09-_.:\\\"/ é\u2028,[]{}\x00\x1f"
    cases = [[], ["H-0123456789"], ["indicator--00000000-0000-4000-8000-000000000001", "file--x"], ['a", "b'],
             ["é"], ["a\\b"], ["x\ny"]]
    cases += [["".join(rng.choice(alphabet) for _ in range(rng.randrange(8))) for _ in range(rng.randrange(4))]
              for _ in range(2000)]
    for items in cases:
        assert hits._json_strings(items) == json.dumps(items), items


def test_objects_shown_come_only_from_what_the_asker_may_read_and_owners_see_only_their_own(matrix):
    """The objects now come with the match, which also returns rows the asker may not read (to
    notify their owners): an answer shows only objects of handlings the asker may read, a
    notification only its owner's own objects."""
    from cyberfusion.errors import Forbidden
    from sharing.helpers import indicator as matrix_indicator
    from sharing.leak import HANDLINGS, VALUE_OF, VIEWERS, expected_for

    id_of = {name: matrix_indicator("ipv4-addr", value)["id"] for name, value in VALUE_OF.items()}
    owner_of = {id_of[name]: owner for name, (owner, _h, _v) in HANDLINGS.items()}
    for key in VIEWERS:
        try:
            v = matrix.viewer(key)
            with transaction(matrix.factory) as s:
                result = hits.lookup(s, viewer=v, purpose="investigation", values=list(VALUE_OF.values()))
        except Forbidden:
            continue
        shown = {o["id"] for r in result.results for o in r.get("details", {}).get("objects", [])}
        assert shown == {id_of[n] for n in expected_for(key)}, key
    with matrix.factory() as s:
        for n in s.scalars(select(HitNotification)):
            assert n.object_ids and all(matrix.orgs[owner_of[i]] == n.owner_org_id for i in n.object_ids), n.object_ids
            owners_objects = {id_of[name] for name, (owner, _h, value) in HANDLINGS.items()
                              if value == n.value and matrix.orgs[owner] == n.owner_org_id}
            assert set(n.object_ids) == owners_objects


def test_sighting_counts_of_a_long_list_are_those_of_its_short_lists(world, tmp_path):
    """Above repository._INLINE_VALUES object ids, sighting_counts binds one JSON/array parameter
    instead of an expanding IN: the counts are the same as per short list, policy included."""
    from cyberfusion.fusion import repository
    _seed(world, tmp_path)
    real = [_sid(1), _sid(6), _sid(11), _sid(23)]
    filler = [_sid(10_000 + i) for i in range(repository._INLINE_VALUES + 50)]
    for who, purpose in (("ncb_fr", "investigation"), ("vendor", "network_defence"), ("ncb_ru", "investigation")):
        viewer = world.viewer(who)
        with world.factory() as s:
            short = repository.sighting_counts(s, viewer=viewer, purpose=purpose, stix_ids=real)
            long = repository.sighting_counts(s, viewer=viewer, purpose=purpose, stix_ids=filler + real)
        assert long == short, who
    with world.factory() as s:
        assert repository.sighting_counts(s, viewer=world.viewer("ncb_fr"), purpose="investigation",
                                          stix_ids=filler + real) == {_sid(1): 2, _sid(6): 1}
