"""Correlation: derived terms on ingest, linear storage, CIDR containment, URL -> domain ->
registered domain, e-mail -> domain, hashes across algorithms, the over-correlation guard,
warninglists, corroboration and sightings, clusters."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cyberfusion.config import get_settings
from cyberfusion.db import transaction
from cyberfusion.errors import NotFound
from cyberfusion.fusion import correlate, warninglists
from cyberfusion.fusion.models import IpPrefix, Term, ValueStat
from cyberfusion.fusion.terms import Key, covering_starts, derived_term, prefix_of, query_keys, url_host
from cyberfusion.intel import repository as intel_repo
from cyberfusion.intel.models import Observable
from cyberfusion.kit.observables import ip_range, normalise
from fusion.fusion_helpers import WARNINGLISTS, give, indicator, multi, sighting


def _settings(**changes):
    return get_settings().model_copy(update=changes)


def _count(world, model, *where):
    with world.factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _related(world, key, stix_id, depth=1, **changes):
    with transaction(world.factory) as s:
        return correlate.related(s, viewer=world.viewer(key), purpose="investigation", stix_id=stix_id, depth=depth,
                                 settings=_settings(**changes))


def _edges(result):
    """Links as sets of ({a, b}, via, kind, value): a link has no direction."""
    return {(frozenset((e["source"], e["target"])), e["via"], e["kind"], e["value"]) for e in result["edges"]}


def _link(a, b, via, kind, value):
    return (frozenset((a["id"], b["id"])), via, kind, value)


# --- terms (pure) --------------------------------------------------------------------------------

def test_terms_of_urls_emails_and_domains_idna_included():
    url = normalise("url", "https://User@BÜCHER.example.de:443/a?b#c")
    assert url == "https://User@xn--bcher-kva.example.de/a?b#c"
    assert url_host(url) == "xn--bcher-kva.example.de"
    assert derived_term("url", url) == ("host", "de.example.xn--bcher-kva")
    assert derived_term("url", "http://203.0.113.5:8080/x") == ("ipv4-addr", "203.0.113.5")
    assert derived_term("url", "http://[2001:db8::1]/x") == ("ipv6-addr", "2001:db8::1")
    assert derived_term("email-addr", "bob@mail.example.co.uk") == ("host", "uk.co.example.mail")
    assert derived_term("email-addr", "bob@[192.0.2.1]") == ("ipv4-addr", "192.0.2.1")
    assert derived_term("domain-name", "www.bbc.co.uk") == ("host", "uk.co.bbc.www")
    assert derived_term("ipv4-addr", "203.0.113.5") is None
    # Reading starts from a value: its registered domain (public suffix list) is one range of hosts.
    assert query_keys("domain-name", "www.bbc.co.uk") == [
        Key("domain-name", "www.bbc.co.uk", "value"), Key("host", "uk.co.bbc.www", "host"),
        Key("host", "uk.co.bbc", "registered_domain", subtree=True)]
    assert query_keys("host", "uk.co.bbc.www") == [
        Key("domain-name", "www.bbc.co.uk", "host"), Key("host", "uk.co.bbc.www", "host"),
        Key("host", "uk.co.bbc", "registered_domain", subtree=True)]


def test_prefix_registry_arithmetic():
    start, end = ip_range("198.51.100.0/24")
    assert prefix_of(start, end) == 120  # /24 in the IPv4-mapped IPv6 space
    assert prefix_of(*ip_range("198.51.100.1")) is None
    assert prefix_of(*ip_range("2001:db8::/32")) == 32
    assert covering_starts(ip_range("198.51.100.77")[0], [120, 112]) == [ip_range("198.51.100.0/24")[0],
                                                                         ip_range("198.51.0.0/16")[0]]


# --- ingest ------------------------------------------------------------------------------------

def test_ingest_writes_terms_and_per_value_aggregates_linearly(world, tmp_path):
    objects = [indicator("url", "http://login.evil.example.com/a"), indicator("email-addr", "x@mail.evil.example.com"),
               indicator("domain-name", "evil.example.com"), indicator("ipv4-addr", "203.0.113.9"),
               indicator("ipv4-addr", "198.51.100.0/24")]
    give(world, tmp_path, "vendor", objects)
    assert _count(world, Observable) == 5
    with world.factory() as s:
        terms = sorted((t.kind, t.value) for t in s.scalars(select(Term)))
        values = {(v.kind, v.value): v.contributions for v in s.scalars(select(ValueStat))}
        prefixes = s.scalars(select(IpPrefix.prefix)).all()
    assert terms == [("host", "com.example.evil"), ("host", "com.example.evil.login"),
                     ("host", "com.example.evil.mail")]
    assert len(values) == 8 and set(values.values()) == {1}
    assert prefixes == [120]
    # The same value twice in one contribution counts once; a second contribution adds one.
    give(world, tmp_path, "bank", [indicator("domain-name", "evil.example.com"),
                                   multi("again", [("domain-name", "evil.example.com"), ("md5", "a" * 32)])])
    with world.factory() as s:
        assert s.get(ValueStat, ("evil.example.com", "domain-name")).contributions == 2
        assert s.get(ValueStat, ("com.example.evil", "host")).contributions == 2
        assert s.get(ValueStat, ("a" * 32, "md5")).contributions == 1
    # Storage: at most one term row per observable, one aggregate per distinct value: no pairs.
    assert _count(world, Term) <= _count(world, Observable)


def test_terms_carry_their_observables_columns_as_stored_and_rebuild_writes_the_same(world, tmp_path):
    # On SQLite the ingest hook copies seen_at as the stored text (repository.rows_for_terms);
    # rebuild goes through datetimes: both must store what the observable holds, byte for byte.
    from sqlalchemy import delete, text
    give(world, tmp_path, "vendor", [indicator("url", "http://login.evil.example.com/a"),
                                     indicator("email-addr", "x@mail.evil.example.com"),
                                     indicator("domain-name", "Evil.Example.COM"), indicator("url", "http://203.0.113.5/x"),
                                     indicator("ipv4-addr", "203.0.113.9")])
    columns = "t.kind, t.value, t.range_start, t.range_end, t.observable_pk, t.stix_id, t.contribution_id, " \
              "t.organisation_id, t.handling_id, CAST(t.seen_at AS TEXT)"
    with world.factory() as s:
        differing = s.scalar(text(
            "SELECT count(*) FROM fusion_terms t JOIN observables o ON o.pk = t.observable_pk "
            "WHERE t.seen_at IS NULL OR t.seen_at <> o.seen_at OR t.stix_id <> o.stix_id "
            "OR t.contribution_id <> o.contribution_id OR t.organisation_id <> o.organisation_id "
            "OR t.handling_id <> o.handling_id"))
        ingested = sorted(tuple(r) for r in s.execute(text(f"SELECT {columns} FROM fusion_terms t")))
        if s.get_bind().dialect.name == "sqlite":
            assert {r[0] for r in s.execute(text("SELECT DISTINCT typeof(seen_at) FROM fusion_terms"))} == {"text"}
    assert differing == 0
    assert [(r[0], r[1]) for r in ingested] == [("host", "com.example.evil"), ("host", "com.example.evil.login"),
                                               ("host", "com.example.evil.mail"), ("ipv4-addr", "203.0.113.5")]
    assert ingested[3][2] is not None and ingested[3][2] == ingested[3][3]  # the URL's IP literal as a range
    with transaction(world.factory) as s:
        s.execute(delete(Term))
    with transaction(world.factory) as s:
        assert correlate.rebuild(s)["terms_added"] == 4
    with world.factory() as s:
        rebuilt = sorted(tuple(r) for r in s.execute(text(f"SELECT {columns} FROM fusion_terms t")))
    assert rebuilt == ingested


def test_retention_delete_takes_terms_with_it_and_aggregates_follow(world, tmp_path):
    first = give(world, tmp_path, "vendor", [indicator("url", "http://a.example.net/x")])
    give(world, tmp_path, "bank", [indicator("url", "http://a.example.net/x")])
    with transaction(world.factory) as s:
        correlate.forget_contribution(s, contribution_id=first.contribution_id)
        intel_repo.delete_contribution_rows(s, first.contribution_id)
    assert _count(world, Term, Term.contribution_id == first.contribution_id) == 0
    with world.factory() as s:
        assert s.get(ValueStat, ("http://a.example.net/x", "url")).contributions == 1
        assert s.get(ValueStat, ("net.example.a", "host")).contributions == 1
    with transaction(world.factory) as s:
        out = correlate.rebuild(s)
    assert (out["terms_added"], out["fusion_terms"], out["observables"]) == (0, 1, 1)


# --- what links to what -------------------------------------------------------------------------

def test_cidr_containment_links_addresses_to_ranges(world, tmp_path):
    net = indicator("ipv4-addr", "198.51.100.0/24")
    inside = indicator("ipv4-addr", "198.51.100.77")
    outside = indicator("ipv4-addr", "198.51.101.1")
    give(world, tmp_path, "vendor", [net])
    give(world, tmp_path, "bank", [inside, outside])
    assert _edges(_related(world, "analyst", inside["id"])) == {
        _link(inside, net, "cidr", "ipv4-addr", "198.51.100.0/24")}
    assert _edges(_related(world, "analyst", net["id"])) == {
        _link(inside, net, "cidr", "ipv4-addr", "198.51.100.77")}
    with transaction(world.factory) as s:
        facts = correlate.correlations(s, viewer=world.viewer("analyst"), purpose="investigation",
                                       value="198.51.100.77")
    assert facts["matched"] == [("ipv4-addr", "198.51.100.0/24", "cidr"), ("ipv4-addr", "198.51.100.77", "value")]
    assert [o["id"] for o in facts["objects"]] == sorted([inside["id"], net["id"]])


def test_url_host_and_registered_domain_and_email_domain(world, tmp_path):
    url = indicator("url", "http://login.evil.example.com/a")
    host = indicator("domain-name", "login.evil.example.com")
    apex = indicator("domain-name", "example.com")
    sibling = indicator("url", "https://cdn.example.com/x")
    mail = indicator("email-addr", "bob@example.com")
    other = indicator("domain-name", "example.org")
    for owner, obj in (("vendor", url), ("bank", host), ("telco", apex), ("ncb_fr", sibling), ("le_gb", mail),
                       ("vendor", other)):
        give(world, tmp_path, owner, [obj])
    assert _edges(_related(world, "analyst", url["id"])) == {
        _link(url, host, "host", "domain-name", "login.evil.example.com"),
        _link(apex, url, "registered_domain", "registered-domain", "example.com"),
        _link(sibling, url, "registered_domain", "registered-domain", "example.com"),
        _link(mail, url, "registered_domain", "registered-domain", "example.com"),
    }
    # From the e-mail address: its domain is the apex domain itself.
    assert _link(mail, apex, "host", "domain-name", "example.com") in _edges(_related(world, "analyst", mail["id"]))


def test_idna_and_defanged_values_meet_their_canonical_form(world, tmp_path):
    punycode = indicator("domain-name", "xn--bcher-kva.de")
    unicode_url = indicator("url", "https://bücher.de/login")
    give(world, tmp_path, "vendor", [punycode])
    give(world, tmp_path, "bank", [unicode_url])
    assert _edges(_related(world, "analyst", punycode["id"])) == {
        _link(unicode_url, punycode, "host", "domain-name", "xn--bcher-kva.de")}
    with transaction(world.factory) as s:
        facts = correlate.correlations(s, viewer=world.viewer("analyst"), purpose="investigation",
                                       value="bücher[.]de")
    assert (facts["kind"], facts["value"]) == ("domain-name", "xn--bcher-kva.de")
    assert facts["matched"] == [("domain-name", "xn--bcher-kva.de", "host"),
                                ("domain-name", "xn--bcher-kva.de", "value")]


def test_file_hashes_correlate_across_algorithms(world, tmp_path):
    md5, sha256 = "0" * 31 + "a", "f" * 63 + "e"
    both = multi("both hashes", [("md5", md5), ("sha256", sha256)])
    only_md5 = indicator("md5", md5)
    only_sha = indicator("sha256", sha256)
    give(world, tmp_path, "vendor", [both])
    give(world, tmp_path, "bank", [only_md5])
    give(world, tmp_path, "telco", [only_sha])
    assert _edges(_related(world, "analyst", only_md5["id"])) == {
        _link(both, only_md5, "value", "md5", md5),
        _link(only_md5, only_sha, "hash", "sha256", sha256)}
    with transaction(world.factory) as s:
        facts = correlate.correlations(s, viewer=world.viewer("analyst"), purpose="investigation", value=md5)
    assert facts["related"] == [{"kind": "sha256", "value": sha256, "via": "hash", "objects": 2}]


def test_over_correlation_guard_and_still_searchable(world, tmp_path):
    shared = "192.0.2.200"
    objs = {owner: indicator("ipv4-addr", shared, stix_id=f"indicator--0000000{i}-0000-4000-8000-000000000000")
            for i, owner in enumerate(("vendor", "bank", "telco"), 1)}
    for owner, obj in objs.items():
        give(world, tmp_path, owner, [obj])
    linked = _related(world, "analyst", objs["vendor"]["id"], common_threshold=3)
    assert len(linked["edges"]) == 2 and linked["skipped"] == []
    guarded = _related(world, "analyst", objs["vendor"]["id"], common_threshold=2)
    assert (guarded["edges"], guarded["skipped"]) == ([], [{"kind": "ipv4-addr", "value": shared,
                                                            "reason": "common"}])
    assert [n["id"] for n in guarded["nodes"]] == [objs["vendor"]["id"]]
    with transaction(world.factory) as s:
        facts = correlate.correlations(s, viewer=world.viewer("analyst"), purpose="investigation", value=shared,
                                       settings=_settings(common_threshold=2))
    assert (facts["common"], facts["corroboration"], facts["object_count"]) == (True, 3, 3)


def test_warninglisted_values_are_marked_and_not_correlated(world, tmp_path):
    with transaction(world.factory) as s:
        warninglists.import_paths(s, [WARNINGLISTS / "rfc1918"])
    a, b = indicator("ipv4-addr", "10.9.9.9"), indicator("ipv4-addr", "10.9.9.9", stix_id=
                                                        "indicator--00000000-0000-4000-8000-0000000000bb")
    give(world, tmp_path, "vendor", [a])
    give(world, tmp_path, "bank", [b])
    result = _related(world, "analyst", a["id"])
    assert (result["edges"], result["skipped"]) == ([], [{"kind": "ipv4-addr", "value": "10.9.9.9",
                                                          "reason": "warninglist: List of RFC 1918 CIDR blocks"}])
    with transaction(world.factory) as s:
        facts = correlate.correlations(s, viewer=world.viewer("analyst"), purpose="investigation", value="10.9.9.9")
    assert (facts["warninglists"], facts["object_count"]) == (["List of RFC 1918 CIDR blocks"], 2)


def test_corroboration_first_last_seen_and_sightings_follow_the_policy(world, tmp_path):
    v = indicator("ipv4-addr", "203.0.113.50")
    b = indicator("ipv4-addr", "203.0.113.50", stix_id="indicator--00000000-0000-4000-8000-0000000000b2",
                  modified="2026-10-09T00:00:00.000Z")
    b["valid_from"] = "2026-10-09T00:00:00Z"
    give(world, tmp_path, "vendor", [v])
    give(world, tmp_path, "bank", [b], tlp="amber")
    give(world, tmp_path, "ncb_fr", [sighting(v["id"]), sighting(b["id"])], tlp="green")
    with transaction(world.factory) as s:
        analyst = correlate.correlations(s, viewer=world.viewer("analyst"), purpose="investigation",
                                         value="203.0.113.50")
        telco = correlate.correlations(s, viewer=world.viewer("telco"), purpose="investigation", value="203.0.113.50")
    assert (analyst["corroboration"], analyst["sightings"], analyst["object_count"]) == (2, 2, 2)
    assert (analyst["first_seen"].isoformat(), analyst["last_seen"].isoformat()) == (
        "2026-10-01T00:00:00+00:00", "2026-10-09T00:00:00+00:00")
    # Telco's agreement stops at GREEN: the bank's AMBER report is neither counted nor dated.
    assert (telco["corroboration"], telco["sightings"], telco["object_count"]) == (1, 1, 1)
    assert telco["last_seen"].isoformat() == "2026-10-01T00:00:00+00:00"


def test_related_of_an_unreadable_object_is_not_found(world, tmp_path):
    secret = indicator("ipv4-addr", "203.0.113.60")
    give(world, tmp_path, "bank", [secret], tlp="red", recipients=("le_gb",))
    with pytest.raises(NotFound) as caught:
        _related(world, "analyst", secret["id"])
    assert caught.value.detail == f"no object {secret['id']}"


def test_related_over_http_two_hops(client, world, tmp_path):
    a, b, c = (indicator("ipv4-addr", "203.0.113.70"), multi("b", [("ipv4-addr", "203.0.113.70"),
                                                                     ("domain-name", "hop.example.net")]),
               indicator("domain-name", "hop.example.net"))
    give(world, tmp_path, "vendor", [a])
    give(world, tmp_path, "bank", [b])
    give(world, tmp_path, "telco", [c])
    h = {"Authorization": f"Bearer {world.token('analyst')}"}
    one = client.get(f"/api/v1/objects/{a['id']}/related", params={"purpose": "investigation", "depth": 1},
                     headers=h).json()
    two = client.get(f"/api/v1/objects/{a['id']}/related", params={"purpose": "investigation", "depth": 2},
                     headers=h).json()
    assert [(n["id"], n["depth"]) for n in one["nodes"]] == [(a["id"], 0), (b["id"], 1)]
    assert [(n["id"], n["depth"]) for n in two["nodes"]] == [(a["id"], 0), (b["id"], 1), (c["id"], 2)]
    r = client.get(f"/api/v1/objects/{a['id']}/related", params={"purpose": "investigation", "depth": 9}, headers=h)
    assert (r.status_code, r.json()["field"]) == (422, "depth")


def test_correlation_reads_are_audited_with_the_objects_returned(world, tmp_path):
    from cyberfusion.audit.models import AuditEntry
    a, b = indicator("ipv4-addr", "203.0.113.80"), multi("b", [("ipv4-addr", "203.0.113.80"), ("md5", "c" * 32)])
    give(world, tmp_path, "vendor", [a])
    give(world, tmp_path, "bank", [b])
    _related(world, "ncb_fr", a["id"])
    with transaction(world.factory) as s:
        correlate.correlations(s, viewer=world.viewer("ncb_fr"), purpose="investigation", value="203.0.113.80")
    with world.factory() as s:
        entries = [(e.action, e.purpose, sorted(e.object_ids), e.member_id) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action.like("fusion.%")).order_by(AuditEntry.id))]
    ids = sorted([a["id"], b["id"]])
    assert entries == [("fusion.related", "investigation", ids, world.members["ncb_fr"]),
                       ("fusion.correlation.read", "investigation", ids, world.members["ncb_fr"])]


def test_rebuild_derives_terms_for_data_older_than_fusion(world, tmp_path):
    from sqlalchemy import delete
    give(world, tmp_path, "vendor", [indicator("url", "http://old.example.net/x"), indicator("ipv4-addr", "192.0.2.0/24"),
                                     indicator("md5", "e" * 32)])
    with transaction(world.factory) as s:  # as if imported before migration 0100
        s.execute(delete(Term))
        s.execute(delete(ValueStat))
        s.execute(delete(IpPrefix))
    with transaction(world.factory) as s:
        out = correlate.rebuild(s)
    assert (out["terms_added"], out["fusion_terms"], out["fusion_values"]) == (1, 1, 4)
    with world.factory() as s:
        assert s.scalars(select(IpPrefix.prefix)).all() == [120]
        assert s.get(ValueStat, ("net.example.old", "host")).contributions == 1
