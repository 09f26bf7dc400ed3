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
