"""Country reports from a fixture dataset: exact items, withheld counts under k, files and records."""

from __future__ import annotations

import csv
import io
import json

import products_fixture as fx
import pytest
from sharing.helpers import contribute
from sqlalchemy import select

from cyberfusion.audit.models import AuditEntry
from cyberfusion.db import transaction
from cyberfusion.errors import Forbidden, InvalidInput, NotFound
from cyberfusion.products import service
from cyberfusion.products.models import CountryReport
from cyberfusion.sharing.handling import HandlingSpec

FR_ITEMS = [  # (role, kind, value, corroboration, sources, basis, actions)
    ("c2_server", "ipv4-addr", "62.4.1.1", 2, ["Vendor Labs", "financial sector, Europe"], ["IP geolocation"],
     ["takedown_request", "blocking"]),
    ("phishing_site", "url", "http://62.4.1.1/login", 1, ["financial sector, Europe"], ["IP geolocation"],
     ["takedown_request", "blocking"]),
    ("phishing_site", "url", "https://secure-login.example.fr/x.php", 1, ["Vendor Labs"], ["ccTLD .fr"],
     ["takedown_request", "blocking"]),
    ("victim_organisation", "organisation", "Banque Exemple SA", 1, ["Vendor Labs"],
     ["country stated in the data"], ["victim_notification"]),
    ("mule_account", "iban", "FR7630006000011234567890189", 1, ["financial sector, Europe"], ["IBAN country code"],
     ["further_investigation"]),
    ("mule_wallet", "btc", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", 1, ["Vendor Labs"],
     ["country stated in the data"], ["further_investigation"]),
    ("fraud_contact", "phone", "+33123456789", 1, ["financial sector, Europe"], ["phone country code +33"],
     ["further_investigation", "blocking"]),
    ("malicious_domain", "domain-name", "evil-payload.fr", 1, ["Vendor Labs"], ["ccTLD .fr"],
     ["further_investigation"]),
]


@pytest.fixture
def data(world, tmp_path):
    fx.build(world, tmp_path)
    return world


def _generate(world, **kw):
    kw.setdefault("formats", ("csv", "stix", "html"))
    with transaction(world.factory) as s:
        return service.generate(s, viewer=world.viewer("analyst"), period="2026-10", **kw)


def test_france_report_has_exactly_the_expected_items(data):
    batch = _generate(data, countries=["FR", "RU"], k=2)
    fr, ru = batch.reports[0].report, batch.reports[1].report
    assert [(i.role, i.kind, i.value, i.corroboration, i.sources, i.basis, i.actions) for i in fr.items] == FR_ITEMS
    c2 = fr.items[0]
    assert (c2.crime_types, c2.confidence, c2.related, c2.network) == (
        ["malware", "phishing"], 80, ["malware: Emotet"], "62.4.0.0/19 Scaleway S.a.s.")
    assert fr.items[3].related == ["campaign: Operation Croissant"]
    assert fr.withheld == 2  # nfd-only.fr (no further dissemination) and denied-fr.fr, from 2 organisations
    assert fr.tlp == "amber"
    assert [r["title"] for r in fr.recommendations] == [
        "Block Emotet command-and-control at the network edge", "Block the infrastructure found", "Notify victims",
        "Patch exploited vulnerabilities", "Phishing awareness", "Mule accounts and wallets", "Fraud contacts"]
    assert "CVE-2023-23397" in fr.recommendations[3]["text"]
    assert [(i.role, i.value) for i in ru.items] == [("c2_server", "5.255.255.5")]
    assert ru.withheld is None  # nothing withheld: zero sources is below k as well


def test_withheld_count_is_hidden_below_k(data):
    assert _generate(data, countries=["FR"], k=3).reports[0].report.withheld is None


def test_own_no_further_dissemination_data_reaches_its_owner(data):
    report = _generate(data, countries=["FR"], recipient="Telco One", k=1).reports[0].report
    assert "nfd-only.fr" in {i.value for i in report.items}
    assert "nfd-only.fr" not in {i.value for i in _generate(data, countries=["FR"], k=1).reports[0].report.items}


def test_all_countries_one_package_each_with_a_summary_and_records(data):
    batch = _generate(data, all_countries=True, k=2)
    assert [(r["country"], r["recipient"], r["items"]) for r in batch.summary_rows()] == [
        ("FR", "NCB France", 8), ("RU", "NCB Russia", 1)]
    assert batch.summary_rows()[0]["phishing_site"] == 2
    with data.factory() as s:
        records = list(s.scalars(select(CountryReport).order_by(CountryReport.country)))
        assert [(r.country, r.batch_id, r.status, r.item_count, r.geo_database) for r in records] == [
            ("FR", batch.batch_id, "generated", 8, "MAXMIND:GeoLite2-CountryASN-IPv4IPv6-en-20240618"),
            ("RU", batch.batch_id, "generated", 1, "MAXMIND:GeoLite2-CountryASN-IPv4IPv6-en-20240618")]
        assert sorted(x["items"] for x in records[0].sources) == [4, 5]  # bank's and vendor's contributions
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "report.country.generate")))
        assert sorted(e.detail["country"] for e in entries) == ["FR", "RU"]
        assert {e.purpose for e in entries} == {"threat_reporting"}


def test_csv_and_stix_files(data):
    from stix2validator import ValidationOptions, validate_string
    g = _generate(data, countries=["FR"], k=2).reports[0]
    rows = list(csv.DictReader(io.StringIO(g.files["csv"].decode())))
    assert [(r["role"], r["observable"], r["corroboration"]) for r in rows] == [
        (role, value, str(n)) for role, _k, value, n, *_ in FR_ITEMS]
    assert rows[6]["observable"] == "+33123456789"  # a phone number is not taken for a formula
    bundle = json.loads(g.files["stix"])
    report = next(o for o in bundle["objects"] if o["type"] == "report")
    assert report["id"] == f"report--{g.record.id}" and len(report["object_refs"]) == 1 + 8 + 7
    assert min(o["pattern"] for o in bundle["objects"] if o["type"] == "indicator") == \
        "[bank-account:iban = 'FR7630006000011234567890189']"
    result = validate_string(g.files["stix"].decode(), ValidationOptions(version="2.1", strict=False, silent=True))
    assert result.is_valid, [str(e) for o in result.results for e in o.errors]


def test_html_escapes_partner_text_and_names_the_geo_database(data, tmp_path):
    contribute(data, tmp_path, "vendor", [
        fx.sdo("identity", "<script>alert(1)</script>", identity_class="organization"),
        fx.rel(fx.sid("identity", "<script>alert(1)</script>"), "located-at", fx.LOC_FR["id"]),
        fx.rel(fx.CAMPAIGN["id"], "targets", fx.sid("identity", "<script>alert(1)</script>"))],
        HandlingSpec(tlp="green"))
    html = _generate(data, countries=["FR"], k=2).reports[0].files["html"].decode()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "GeoLite2 data of 2024-06-18" in html and "http://" not in html.split("<body>")[0]


def test_pdf_is_produced_and_its_text_reads_right(data):
    from pypdf import PdfReader
    g = _generate(data, countries=["FR"], k=2, formats=("pdf",)).reports[0]
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(g.files["pdf"])).pages)
    for expected in ("Country cyber activity report: France (FR)", "62.4.1.1", "FR7630006000011234567890189",
                     "Banque Exemple SA", "GeoLite2 data of 2024-06-18", "Withheld: 2 further items"):
        # cells wrap long values anywhere, so compare without whitespace
        assert "".join(expected.split()) in "".join(text.split()), expected


def test_who_may_generate_and_bad_input(data):
    with transaction(data.factory) as s:
        with pytest.raises(Forbidden):
            service.generate(s, viewer=data.viewer("ncb_fr"), period="2026-10", countries=["FR"], k=2)
        with pytest.raises(InvalidInput) as e:
            service.generate(s, viewer=data.viewer("analyst"), period="2026-10", countries=["XX"], k=2)
        assert e.value.field == "country"
        with pytest.raises(NotFound):
            service.generate(s, viewer=data.viewer("analyst"), period="2026-10", countries=["BR"], k=2)
        with pytest.raises(InvalidInput) as e:
            service.generate(s, viewer=data.viewer("analyst"), period="2026-10", k=2)
        assert e.value.field == "country"
