"""Each built-in analyzer on known inputs, with the exact values its data source gives."""

from __future__ import annotations

import pytest

from cyberfusion.analyzers import registry
from cyberfusion.analyzers.base import (
    Analyzer,
    AnalyzerError,
    AnalyzerResult,
    Observable,
    country_location,
    relationship,
    subject,
)
from cyberfusion.analyzers.builtin import (
    CveLinks,
    DomainParts,
    GeoIP,
    HashReputation,
    IbanInfo,
    PhoneInfo,
    WalletInfo,
)
from cyberfusion.analyzers.http import HttpAnalyzer
from cyberfusion.errors import ConfigurationError


def run(cls: type[Analyzer], kind: str, value: str, store=None) -> AnalyzerResult:
    return cls().run(Observable(kind, value, store=store))


# --- geoip2fast (GeoLite2 2024-06-18) ------------------------------------------------------------

@pytest.mark.parametrize("ip, country, name, as_name, as_cidr", [
    ("8.8.8.8", "US", "United States", "GOOGLE", "8.8.8.0/24"),
    ("1.1.1.1", "AU", "Australia", "CLOUDFLARENET", "1.1.1.0/24"),
    ("81.2.69.142", "GB", "United Kingdom", "Andrews & Arnold Ltd", "81.2.64.0/18"),
    ("193.0.6.139", "NL", "The Netherlands", "Reseaux IP Europeens Network Coordination Centre (RIPE NCC)",
     "193.0.0.0/21"),
])
def test_geoip_ipv4(ip, country, name, as_name, as_cidr):
    r = run(GeoIP, "ipv4-addr", ip)
    assert r.data == {"country_code": country, "country_name": name, "as_name": as_name, "as_cidr": as_cidr,
                      "private": False, "dataset": "GeoLite2 2024-06-18"}
    assert r.summary == f"{ip}: {country} ({name}), AS {as_name} ({as_cidr}); GeoLite2 2024-06-18"
    location = country_location(country, name)
    assert r.objects == [location, relationship(subject("ipv4-addr", ip)["id"], "located-at", location["id"])]


def test_geoip_ipv6_uses_the_ipv6_data_file():
    r = run(GeoIP, "ipv6-addr", "2001:4860:4860::8888")
    assert (r.data["country_code"], r.data["as_name"], r.data["as_cidr"]) == ("US", "GOOGLE", "2001:4860:4840::/42")
    r = run(GeoIP, "ipv6-addr", "2a00:1450:4001:82b::200e")
    assert (r.data["country_code"], r.data["as_name"]) == ("DE", "GOOGLE")


def test_geoip_private_address_has_no_location():
    r = run(GeoIP, "ipv4-addr", "192.168.1.1")
    assert r.data == {"country_code": None, "country_name": None, "as_name": None, "as_cidr": None,
                      "private": True, "dataset": "GeoLite2 2024-06-18"}
    assert r.objects == []
    assert r.summary == "192.168.1.1: Private Network Class C (no public geolocation; GeoLite2 2024-06-18)"


def test_geoip_range_is_placed_by_its_first_address():
    assert run(GeoIP, "ipv4-addr", "8.8.8.0/24").data["as_name"] == "GOOGLE"


# --- tldextract (bundled public suffix list) -------------------------------------------------------

@pytest.mark.parametrize("domain, registered, suffix, sub", [
    ("www.bbc.co.uk", "bbc.co.uk", "co.uk", "www"),
    ("a.b.example.com", "example.com", "com", "a.b"),
    ("foo.github.io", "github.io", "io", "foo"),  # private suffixes are not used
    ("example.de", "example.de", "de", None),
])
def test_domain_parts(domain, registered, suffix, sub):
    r = run(DomainParts, "domain-name", domain)
    assert (r.data["registered_domain"], r.data["public_suffix"], r.data["subdomain"]) == (registered, suffix, sub)
    assert r.objects == ([] if registered == domain else [subject("domain-name", registered)])
    assert r.confidence == 95


def test_domain_under_no_public_suffix():
    r = run(DomainParts, "domain-name", "host.example.invalidtld")
    assert (r.data["registered_domain"], r.data["public_suffix"]) == (None, None)
    assert r.summary == "host.example.invalidtld: not under a known public suffix (suffix: none)"


# --- phonenumbers ------------------------------------------------------------------------------------

@pytest.mark.parametrize("number, region, kind, carrier, area", [
    ("+447912345678", "GB", "mobile", "O2", "United Kingdom"),
    ("+33612345678", "FR", "mobile", "SFR", "France"),
    ("+8613800138000", "CN", "mobile", "China Mobile", "Beijing"),
    ("+4915123456789", "DE", "mobile", "T-Mobile", "Germany"),
    ("+442079460000", "GB", "fixed_line", None, "London"),
    ("+14155552671", "US", "fixed_line_or_mobile", None, "San Francisco, CA"),
])
def test_phone_info(number, region, kind, carrier, area):
    d = run(PhoneInfo, "phone", number).data
    assert (d["e164"], d["region"], d["type"], d["carrier"], d["area"]) == (number, region, kind, carrier, area)


def test_phone_summary_and_time_zones():
    r = run(PhoneInfo, "phone", "+6591234567")
    assert r.summary == "+6591234567: SG, mobile, carrier SingTel (at allocation), Singapore"
    assert r.data["time_zones"] == ["Asia/Singapore"]
    assert r.data["country_code"] == 65


# --- python-stdnum ----------------------------------------------------------------------------------

@pytest.mark.parametrize("iban, cc, country, bank_code, bank, bic", [
    ("GB29NWBK60161331926819", "GB", "United Kingdom", "NWBK", None, None),
    ("DE89370400440532013000", "DE", "Germany", "37040044", None, None),
    ("FR1420041010050500013M02606", "FR", "France", "20041", None, None),
    ("NL91ABNA0417164300", "NL", "Netherlands (The)", "ABNA", None, None),
    ("BE71096123456769", "BE", "Belgium", "096", "BELFIUS BANQUE", "GKCCBEBB"),
    ("CZ6508000000192000145399", "CZ", "Czechia", "0800", "Česká spořitelna, a.s.", "GIBACZPX"),
])
def test_iban_info(iban, cc, country, bank_code, bank, bic):
    d = run(IbanInfo, "iban", iban).data
    assert (d["country_code"], d["country"], d["bank_code"], d["bank"], d["bic"]) == (cc, country, bank_code, bank, bic)


def test_iban_summary_names_the_bank_when_known():
    assert run(IbanInfo, "iban", "BE71096123456769").summary == \
        "BE71096123456769: Belgium (BE), bank code 096, BELFIUS BANQUE (BIC GKCCBEBB)"
    assert run(IbanInfo, "iban", "GB29NWBK60161331926819").confidence == 70


# --- wallets ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, address, chain, network, form", [
    ("btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "bitcoin", "mainnet", "P2PKH"),
    ("btc", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "bitcoin", "mainnet", "P2SH"),
    ("btc", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "bitcoin", "mainnet", "P2WPKH (segwit v0, bech32)"),
    ("btc", "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297", "bitcoin", "mainnet",
     "P2TR (taproot, bech32m)"),
    ("eth", "0xde0b295669a9fd93d5f28d9ec85e40f4cb697bae", "ethereum", "any EVM chain", "account address (20 bytes)"),
    ("xmr", "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",
     "monero", "mainnet", "standard"),
])
def test_wallet_info(kind, address, chain, network, form):
    d = run(WalletInfo, kind, address).data
    assert (d["chain"], d["network"], d["format"], d["checksum_valid"]) == (chain, network, form, True)


def test_wallet_eth_gives_the_eip55_form_and_rejects_a_bad_checksum():
    assert run(WalletInfo, "eth", "0xde0b295669a9fd93d5f28d9ec85e40f4cb697bae").data["eip55"] == \
        "0xde0B295669a9FD93d5F28D9Ec85E40f4cb697BAe"
    with pytest.raises(AnalyzerError, match="Invalid checksum|checksum"):
        run(WalletInfo, "btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb")


# --- hashes ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, digest", [
    ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
    ("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    ("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
])
def test_hash_of_the_empty_file_is_known_without_any_list(kind, digest):
    r = run(HashReputation, kind, digest)
    assert (r.data, r.confidence) == ({"verdict": "known-empty", "lists": []}, 100)


def test_other_hash_without_lists_is_unknown():
    r = run(HashReputation, "md5", "44d88612fea8a8f36de82e1278abb02f")  # EICAR, but no list is loaded here
    assert (r.data, r.confidence) == ({"verdict": "unknown", "lists": []}, 50)
    # With the warning lists, see test_analyzers_service.py::test_hash_analyzer_reads_the_warninglists


# --- CVE links (store given by the service) -----------------------------------------------------------

class FakeStore:
    def linked(self, cve):
        return [{"id": "attack-pattern--7e150503-88e7-4861-866b-ff1ac82c4475", "type": "attack-pattern",
                 "name": "Exploit Public-Facing Application"}] if cve == "CVE-2021-44228" else []


def test_cve_links_relate_the_vulnerability_to_what_the_store_links():
    r = run(CveLinks, "cve", "CVE-2021-44228", store=FakeStore())
    assert r.summary == "CVE-2021-44228: linked to attack-pattern Exploit Public-Facing Application"
    assert r.objects == [relationship(subject("cve", "CVE-2021-44228")["id"], "related-to",
                                      "attack-pattern--7e150503-88e7-4861-866b-ff1ac82c4475")]
    assert run(CveLinks, "cve", "CVE-2020-0001", store=FakeStore()).objects == []
    with pytest.raises(AnalyzerError, match="needs read access"):
        run(CveLinks, "cve", "CVE-2021-44228")


# --- deterministic objects and the registry ----------------------------------------------------------

def test_subject_ids_follow_the_stix_deterministic_id_rule():
    # The id stix2 itself computes for IPv4Address(value="8.8.8.8").
    import stix2
    assert subject("ipv4-addr", "8.8.8.8")["id"] == stix2.IPv4Address(value="8.8.8.8").id
    assert subject("md5", "d41d8cd98f00b204e9800998ecf8427e")["id"] == \
        stix2.File(hashes={"MD5": "d41d8cd98f00b204e9800998ecf8427e"}).id


def test_registry_lists_the_builtins():
    names = [c.name for c in registry.all_analyzers()]
    for name in ("cve-links", "domain-parts", "geoip", "hash-known", "iban-info", "phone-info", "wallet-info"):
        assert name in names
    assert [c.name for c in registry.for_kind("iban")] == ["iban-info"]


@pytest.mark.parametrize("attrs, message", [
    (dict(name="x", version="1", accepts=frozenset({"md5"})), "name must be"),
    (dict(name="ok-name", version="1", accepts=frozenset({"nope"})), "unknown: nope"),
    (dict(name="ok-name", version="1", accepts=frozenset({"md5"}), egress=True), "must name its owner"),
    (dict(name="ok-name", version="1", accepts=frozenset({"md5"}), rate_limit=(0, 1.0)), "rate_limit"),
])
def test_registry_rejects_malformed_analyzers(attrs, message):
    cls = type("Bad", (Analyzer,), {**attrs, "run": lambda self, o: None})
    with pytest.raises(ConfigurationError, match=message):
        registry.check(cls)


def test_http_analyzer_cannot_drop_egress():
    cls = type("Sneaky", (HttpAnalyzer,), dict(name="sneaky", version="1", accepts=frozenset({"md5"}),
                                               owner="X", egress=False))
    with pytest.raises(ConfigurationError, match="egress"):
        registry.check(cls)


def test_broken_entry_point_is_left_out_and_reported(monkeypatch):
    class EP:
        name, value = "broken-one", "nowhere.module:Thing"

        def load(self):
            raise ImportError("No module named 'nowhere'")

    monkeypatch.setattr(registry, "entry_points", lambda group: [EP()])
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "_broken", {})
    assert "geoip" in [c.name for c in registry.all_analyzers()]
    assert registry.broken() == {"broken-one": "nowhere.module:Thing: No module named 'nowhere'"}
