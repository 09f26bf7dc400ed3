"""Geolocation of known addresses from the packaged GeoLite2 data, ccTLD/IBAN/phone mapping, roles."""

from __future__ import annotations

import ipaddress

import pytest

from cyberfusion.errors import InvalidInput
from cyberfusion.products import geo
from cyberfusion.products.period import parse_period
from cyberfusion.products.roles import actions_for, role_of


@pytest.mark.parametrize("kind,value,expected", [
    ("ipv4-addr", "62.4.1.1", ("FR", "ip_geolocation", "62.4.0.0/19 Scaleway S.a.s.")),
    ("ipv4-addr", "212.27.48.10", ("FR", "ip_geolocation", "212.27.32.0/19 Free SAS")),
    ("ipv4-addr", "5.255.255.5", ("RU", "ip_geolocation", "5.255.240.0/20 YANDEX LLC")),
    ("ipv4-addr", "41.58.0.1", ("NG", "ip_geolocation", "41.58.0.0/16 SWIFTNG-ASN")),
    ("ipv4-addr", "196.200.1.1", ("ZA", "ip_geolocation", "196.200.0.0/21 Q-KON")),
    ("ipv4-addr", "8.8.8.8", ("US", "ip_geolocation", "8.8.8.0/24 GOOGLE")),
    ("ipv4-addr", "62.4.0.0/19", ("FR", "ip_geolocation", "62.4.0.0/19 Scaleway S.a.s.")),
    ("ipv6-addr", "2a01:e0a::1", ("FR", "ip_geolocation", "2a01:e0a::/38 Free SAS")),
    ("url", "http://62.4.1.1/login", ("FR", "ip_geolocation", "62.4.0.0/19 Scaleway S.a.s.")),
    ("url", "https://secure-login.example.fr/x.php", ("FR", "cctld", ".fr")),
    ("domain-name", "bank-verify.co.uk", ("GB", "cctld", ".uk")),
    ("domain-name", "pay.com.br", ("BR", "cctld", ".br")),
    ("email-addr", "ceo@invoice-mail.de", ("DE", "cctld", ".de")),
    ("iban", "FR7630006000011234567890189", ("FR", "iban", "France")),
    ("iban", "DE89370400440532013000", ("DE", "iban", "Germany")),
    ("phone", "+2348021234567", ("NG", "phone", "+234")),
    ("phone", "+33612345678", ("FR", "phone", "+33")),
])
def test_locate_known_values(kind, value, expected):
    found = geo.locate(kind, value)
    assert (found.country, found.basis, found.detail) == expected


@pytest.mark.parametrize("kind,value", [
    ("ipv4-addr", "10.1.2.3"), ("ipv4-addr", "192.168.0.1"), ("ipv6-addr", "fe80::1"),
    ("domain-name", "nowhere.io"), ("domain-name", "stream.tv"), ("domain-name", "example.com"),
    ("domain-name", "portal.eu"), ("sha256", "a" * 64), ("btc", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"),
])
def test_values_without_a_country(kind, value):
    assert geo.locate(kind, value) is None


def test_database_date_is_what_the_package_reports():
    assert geo.database_info() == {"source": "MAXMIND:GeoLite2-CountryASN-IPv4IPv6-en-20240618",
                                   "date": "2024-06-18", "file": "geoip2fast-asn-ipv6.dat.gz"}
    # read from the file's head, it is the line the loaded data carries
    assert geo._source_line() == geo._reader().source_info == geo.database_info()["source"]


@pytest.mark.parametrize("kwargs,role", [
    ({"kind": "ipv4-addr", "labels": ["c2"]}, "c2_server"),
    ({"kind": "ipv4-addr", "labels": ["compromised", "c2"]}, "compromised_host"),
    ({"kind": "url", "categories": ["malware"]}, "malware_hosting"),
    ({"kind": "ipv4-addr", "categories": ["ransomware"]}, "c2_server"),
    ({"kind": "domain-name", "categories": ["phishing"]}, "phishing_site"),
    ({"kind": "domain-name", "categories": ["fraud"]}, "malicious_domain"),
    ({"kind": "url", "name": "Emotet C2 panel"}, "c2_server"),
    ({"kind": "iban"}, "mule_account"), ({"kind": "eth"}, "mule_wallet"), ({"kind": "phone"}, "fraud_contact"),
    ({"kind": "ipv4-addr", "categories": ["bec"]}, "other_infrastructure"),
])
def test_roles(kwargs, role):
    assert role_of(**kwargs) == role


def test_a_single_weak_source_is_verified_before_action():
    assert actions_for("c2_server", sources=1, confidence=40) == ["further_investigation"]
    assert actions_for("c2_server", sources=1, confidence=80) == ["takedown_request", "blocking"]
    assert actions_for("c2_server", sources=2, confidence=None) == ["takedown_request", "blocking"]
    assert actions_for("victim_organisation", sources=1, confidence=None) == ["victim_notification"]


@pytest.mark.parametrize("text,start,end", [
    ("2026-10", "2026-10-01", "2026-11-01"), ("2026-12", "2026-12-01", "2027-01-01"),
    ("2026-W42", "2026-10-12", "2026-10-19"), ("2026-q4", "2026-10-01", "2027-01-01"),
    ("2026", "2026-01-01", "2027-01-01"),
])
def test_periods(text, start, end):
    p = parse_period(text)
    assert (p.start.date().isoformat(), p.end.date().isoformat()) == (start, end)


@pytest.mark.parametrize("text", ["2026-13", "Oct 2026", "2026-W60", ""])
def test_bad_periods_name_the_field(text):
    with pytest.raises(InvalidInput) as e:
        parse_period(text)
    assert e.value.field == "period"


def test_fast_path_agrees_with_geoip2fast_lookup():
    import random

    from geoip2fast import GeoIP2Fast
    reader = GeoIP2Fast(geoip2fast_data_file=geo.GEO_DATA_FILE)  # the data is shared: module globals
    rng = random.Random(7)
    addresses = [f"{rng.randint(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"
                 for _ in range(3000)]
    addresses += [f"2{rng.randrange(16)}{rng.randrange(256):02x}:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
                  for _ in range(1000)]
    for address in addresses:
        r = reader.lookup(address)
        expected = None if r.is_private or len(r.country_code) != 2 or r.country_code == "--" else r.country_code
        found = geo.locate_ip(address)
        if found is None:
            assert expected is None or geo._valid_country(expected) is None, address
            continue
        assert found.country == expected, address
        # The AS network: lookup() with the IPv6 file measures IPv4 networks with IPv6 widths and
        # so can name a network that does not contain the address; ours must contain it.
        if found.detail:
            network = ipaddress.ip_network(found.detail.split(" ", 1)[0])
            assert ipaddress.ip_address(address) in network, address
            assert found.detail == f"{r.asn_cidr} {r.asn_name}".strip() or r.asn_cidr != found.detail.split()[0]
