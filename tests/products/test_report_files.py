"""Report files are pinned byte for byte: the fixture's reports, rendered with a fixed id and time,
must keep these exact CSV rows and these HTML and STIX digests (speed work on the renderers may not
change a byte)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import products_fixture as fx
from sharing.helpers import contribute

from cyberfusion.db import transaction
from cyberfusion.products import country_index, render
from cyberfusion.products.country_report import compile_reports
from cyberfusion.products.period import parse_period
from cyberfusion.products.service import _recipients
from cyberfusion.sharing.handling import HandlingSpec

AT = datetime(2026, 11, 27, 1, 2, 3, 456789, tzinfo=UTC)
FR_CSV = """\
category,role,kind,observable,crime_types,first_seen,last_seen,corroboration,sources,confidence,related,recommended_actions,basis,network
Command-and-control servers,c2_server,ipv4-addr,62.4.1.1,malware;phishing,2026-10-05T10:00:00+00:00,2026-10-05T10:00:00+00:00,2,"Vendor Labs; financial sector, Europe",80,malware: Emotet,takedown_request;blocking,IP geolocation,62.4.0.0/19 Scaleway S.a.s.
Phishing sites,phishing_site,url,http://62.4.1.1/login,phishing,2026-10-05T10:00:00+00:00,2026-10-05T10:00:00+00:00,1,"financial sector, Europe",75,,takedown_request;blocking,IP geolocation,62.4.0.0/19 Scaleway S.a.s.
Phishing sites,phishing_site,url,https://secure-login.example.fr/x.php,malware,2026-10-05T10:00:00+00:00,2026-10-05T10:00:00+00:00,1,Vendor Labs,70,,takedown_request;blocking,ccTLD .fr,
Victim organisations,victim_organisation,organisation,<b>Bank & Co</b>,malware,2026-10-05T10:00:00+00:00,2026-10-05T10:00:00+00:00,1,Vendor Labs,,campaign: Operation Croissant,victim_notification,country stated in the data,
Victim organisations,victim_organisation,organisation,'=HYPERLINK(1),malware,2026-10-05T10:00:00+00:00,2026-10-05T10:00:00+00:00,1,Vendor Labs,,,victim_notification,country stated in the data,
Victim organisations,victim_organisation,organisation,Banque Exemple SA,malware,2026-10-05T10:00:00+00:00,2026-10-05T10:00:00+00:00,1,Vendor Labs,,campaign: Operation Croissant,victim_notification,country stated in the data,
Mule bank accounts,mule_account,iban,FR7630006000011234567890189,phishing,2026-10-05T10:00:00+00:00,2026-10-05T10:00:00+00:00,1,"financial sector, Europe",85,,further_investigation,IBAN country code,
Mule crypto wallets,mule_wallet,btc,1BoatSLRHtKNngkdXEeobR76b53LETtpyT,malware,2026-10-05T10:00:00+00:00,2026-10-05T10:00:00+00:00,1,Vendor Labs,60,,further_investigation,country stated in the data,
Fraud e-mail addresses and phone numbers,fraud_contact,phone,+33123456789,phishing,2026-10-05T10:00:00+00:00,2026-10-05T10:00:00+00:00,1,"financial sector, Europe",55,,further_investigation;blocking,phone country code +33,
Malicious domains,malicious_domain,domain-name,evil-payload.fr,malware,2026-10-05T10:00:00+00:00,2026-10-05T10:00:00+00:00,1,Vendor Labs,40,,further_investigation,ccTLD .fr,
"""
DIGESTS = {  # sha256 of (html, stix) per country
    "FR": ("fec9a72e1ea1f6514fcdeb03c7560a2f93f36753426596de7c4953918c2104db",
           "c170d55fd140a638f2d8fb9cc961384f0e5e07418451a82b1295944c104d2730"),
    "RU": ("08c4c84d9b67d06976bdf42d00c4c4fdd64d8c793d02e8a5c97ed639b52dd500",
           "ae9cf85031bcb8bd2d22938c5ea05d67da04302e760790aa29a8db0acb793a43"),
}


def test_files_are_byte_identical_to_the_pinned_ones(world, tmp_path):
    fx.build(world, tmp_path)
    odd = [fx.sdo("identity", "<b>Bank & Co</b>", identity_class="organization"),
           fx.sdo("identity", "=HYPERLINK(1)", identity_class="organization")]
    contribute(world, tmp_path, "vendor", [
        *odd, *[fx.rel(o["id"], "located-at", fx.LOC_FR["id"]) for o in odd],
        fx.rel(fx.CAMPAIGN["id"], "targets", odd[0]["id"]),
        fx.rel(fx.sid("campaign", "x"), "targets", odd[1]["id"])], HandlingSpec(tlp="green", category="malware"))
    with transaction(world.factory) as s:
        country_index.ensure_indexed(s)
        recipients = _recipients(s, countries=["FR", "RU"], all_countries=False, recipient=None, skipped=[])
        reports = compile_reports(s, generator=world.viewer("analyst"), recipients=recipients,
                                  period=parse_period("2026-10"), k=2)
    got = {}
    for r in reports:
        report_id = f"00000000-0000-4000-8000-0000000000{r.country.encode().hex()}"
        html = render.html(r, report_id=report_id, generated_at=AT, generated_by="analyst@cfc.example",
                           centre="Fusion <Centre>")
        stix = render.stix_bundle(r, report_id=report_id, generated_at=AT, centre="Fusion <Centre>",
                                  centre_identity="identity--8e2e2d2b-17d4-4cbb-93cf-3d4d3b5e3a11")
        got[r.country] = tuple(hashlib.sha256(t.encode()).hexdigest() for t in (html, stix))
        if r.country == "FR":
            assert render.csv_text(r) == FR_CSV
    assert got == DIGESTS


_PARTS = ["a", "é", '"', "'", "\\", ",", ";", "\n", "\r", "\x00", "\t", " ", "=", "+", "-", "@", "<b>", "&", "\u2028",
          "x" * 300, "1.2.3.4", "evil.example", "http://x.example/p?q=1,2"]
HOSTILE_DIGESTS = {  # sha256 of the files of 3,000 hostile items, as rendered before the speed work of 2026-11-27
    "csv": "028235a8b1f6ec353039c7e9d6daf4d5a4447cbc92e1920e27661de2711cee93",
    "stix": "3fecce5f2155cdf68ab419b89289b356b06b3de51597a21cb9dc5902a799d556",
    "html": "0c17d72763c9772fed5cb5743bc66644021a4a545f65b090b894d2714714be3d",
}


def test_files_of_hostile_items_are_byte_identical_to_the_pinned_ones():
    # Quotes, separators, line breaks, NUL, formulas, over-long names, non-canonical values (left out
    # of the STIX file), confidence as int, float, bool or none: every path of the fast renderers.
    import random
    from datetime import timedelta

    from cyberfusion.products.country_report import CompiledReport, Item, Recipient
    from cyberfusion.products.roles import ROLES

    rng = random.Random(7)

    def text(n=4):
        return "".join(rng.choice(_PARTS) for _ in range(rng.randint(0, n)))

    kinds = ["ipv4-addr", "domain-name", "url", "email-addr", "phone", "organisation", "iban", "btc", "sha256"]
    items = []
    for _ in range(3000):
        kind = rng.choice(kinds)
        value = rng.choice([text(), "1.2.3.4", "Evil.Example.", "evil.example", "+33123456789", "=cmd", "-x",
                            "http://h.example/a,b"])
        first = datetime(2026, 10, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**6),
                                                              microseconds=rng.choice([0, 1, 999, 1000, 123456]))
        last = first if rng.random() < 0.7 else first + timedelta(hours=1)
        items.append(Item(kind, value, rng.choice(list(ROLES)),
                          rng.sample(["malware", "phishing", "bec", text(2)], rng.randint(0, 2)),
                          rng.choice([first, None]) if rng.random() < 0.1 else first,
                          last if rng.random() > 0.05 else None,
                          [text(2) for _ in range(rng.randint(0, 2))], rng.randint(1, 3),
                          rng.choice([None, 0, 40, 80, 100, 80.0, True, -5]),
                          [text(2) for _ in range(rng.randint(0, 2))],
                          rng.sample(["takedown_request", "blocking", "further_investigation"], rng.randint(0, 2)),
                          [text(2) for _ in range(rng.randint(0, 2))], rng.choice(["", text(2)]), ("indicator--x",)))
    report = CompiledReport(country="FR", recipient=Recipient("FR", 1, "NCB <FR>", None),
                            period=parse_period("2026-10"), items=items, withheld=3,
                            recommendations=[{"kind": "x", "title": "T", "audience": "A", "text": "t"}], tlp="amber",
                            sources=[], geo_database={"source": "geo", "date": "2024-06-18"}, k_threshold=3)
    files = {"csv": render.csv_text(report),
             "stix": render.stix_bundle(report, report_id="00000000-0000-4000-8000-000000000000", generated_at=AT,
                                        centre="C", centre_identity="identity--8e2e2d2b-17d4-4cbb-93cf-3d4d3b5e3a11"),
             "html": render.html(report, report_id="r", generated_at=AT, generated_by="g", centre="c")}
    assert {k: hashlib.sha256(v.encode()).hexdigest() for k, v in files.items()} == HOSTILE_DIGESTS
