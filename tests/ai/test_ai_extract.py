"""Extraction on tricky inputs: exact suggestions, reasons and what is set aside."""

from __future__ import annotations

import pytest

from cyberfusion.ai.extract import as_json, extract
from cyberfusion.errors import InvalidInput
from cyberfusion.kit.observables import KINDS


def found(text: str, **kw) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(f.kind, f.value) for f in extract(text, **kw).found]


def test_defanged_forms_are_refanged_with_exact_positions():
    text = "Beacon to hxxps://evil-cdn[.]com:8443/gate.php?id=7&x=1, mail admin [at] bad-mail [.] ru."
    e = extract(text)
    assert [(f.kind, f.value, text[f.start:f.end]) for f in e.found] == [
        ("url", "https://evil-cdn.com:8443/gate.php?id=7&x=1", "hxxps://evil-cdn[.]com:8443/gate.php?id=7&x=1"),
        ("email-addr", "admin@bad-mail.ru", "admin [at] bad-mail [.] ru"),
    ]
    assert [f.reason for f in e.found] == ["defanged URL", "defanged e-mail address"]


def test_ipv6_idn_and_scheme_less_urls():
    text = ("C2 2a03:2880:f12f:83:face:b00c:0:25de, lookalike sparkasse-prüfung.de and "
            "198.51.99.4:8080/panel/login, tcp://[2001:4860::8888]:53/x")
    assert found(text) == [
        ("ipv6-addr", "2a03:2880:f12f:83:face:b00c:0:25de"), ("domain-name", "xn--sparkasse-prfung-uzb.de"),
        ("url", "http://198.51.99.4:8080/panel/login"), ("url", "tcp://[2001:4860::8888]:53/x")]


def test_traps_are_set_aside_with_their_reason():
    text = ("Version 1.2.3.4 of the tool, sections 3.2.1.4 and 3.2.1.5, see http://example.com/x and "
            "192.0.2.7; drop invoice.zip and run System.IO.File; git commit "
            "3f786850e387550fdab836ed7e6dc881de23001b; netmask 255.255.255.0; as 2014; "
            "tx 5e2f0c6b8a7d9e1f3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f checked google.com")
    e = extract(text)
    assert e.found == []
    reasons = {s.raw: s.reason for s in e.skipped}
    assert reasons["1.2.3.4"].startswith("a version")
    assert reasons["3.2.1.5"].startswith("a version")
    assert reasons["invoice.zip"].startswith("a file name")
    assert reasons["3f786850e387550fdab836ed7e6dc881de23001b"] == "a source-code commit id, not a file hash"
    assert reasons["255.255.255.0"].startswith("loopback, unspecified, multicast or netmask")
    assert reasons["google.com"] == "below the threshold: a widely used legitimate service"
    assert reasons["192.0.2.7"].startswith("documentation range")


def test_context_decides_ambiguous_hex():
    hex40 = "de0b295669a9fd93d5f28d9ec85e40f4cb697bae"
    assert found(f"Pay to the ETH wallet {hex40} now") == [("eth", "0x" + hex40)]
    assert found(f"SHA1: {hex40}") == [("sha1", hex40)]
    e = extract(f"dropped file {hex40}")
    assert [(f.kind, f.confidence) for f in e.found] == [("sha1", 0.7)]
    assert found(f"session token {hex40[:32]}") == []


def test_checksums_and_numbers():
    text = ("BTC 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2 and typo 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3; "
            "IBAN GB82 WEST 1234 5698 7654 32 FROM X; call +44 20 7946 0958; CVE 2021-44228; asn 13335.")
    assert found(text) == [("btc", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"), ("cve", "CVE-2021-44228"),
                           ("iban", "GB82WEST12345698765432"), ("phone", "+442079460958"), ("asn", "AS13335")]


def test_private_addresses_are_suggested_with_low_confidence():
    e = extract("lateral movement from 10.20.4.17 to 8.8.4.4")
    assert [(f.value, f.confidence) for f in e.found] == [("10.20.4.17", 0.5), ("8.8.4.4", 0.9)]


def test_keep_reserved_and_threshold():
    assert found("see http://example.com/x", keep_reserved=True) == [("url", "http://example.com/x")]
    assert found("checked google.com", min_confidence=0.3) == [("domain-name", "google.com")]
    with pytest.raises(InvalidInput) as err:
        extract("x", min_confidence=2)
    assert err.value.field == "min_confidence"


def test_json_shape_has_one_list_per_type():
    out = as_json(extract("hxxp://a-b[.]top/x and hxxp://a-b[.]top/x again\nand 8.8.8.8"), source={"file": "t"})
    assert list(out["observables"]) == list(KINDS)
    assert out["observables"]["url"] == [{
        "value": "http://a-b.top/x", "confidence": 0.95, "reason": "defanged URL",
        "positions": [{"start": 0, "end": 18, "line": 1, "raw": "hxxp://a-b[.]top/x"},
                      {"start": 23, "end": 41, "line": 1, "raw": "hxxp://a-b[.]top/x"}]}]
    assert out["observables"]["ipv4-addr"][0]["positions"][0]["line"] == 2
    assert out["counts"]["url"] == 1 and out["counts"]["md5"] == 0
    assert out["extractor"] == {"model": "cfc-extract", "version": "1.0.0"}


def test_url_on_a_private_ipv6_literal_and_mixed_case_markers():
    text = "pivot via tcp://[fdc4:2581:575b:5a72::1]:80/path; reply to ops[At]bad-mail[.]ru"
    e = extract(text)
    assert [(f.kind, f.value, text[f.start:f.end], f.confidence, f.reason) for f in e.found] == [
        ("url", "tcp://[fdc4:2581:575b:5a72::1]:80/path", "tcp://[fdc4:2581:575b:5a72::1]:80/path", 0.5,
         "URL on a private address"),
        ("email-addr", "ops@bad-mail.ru", "ops[At]bad-mail[.]ru", 0.95, "defanged e-mail address")]


def test_positions_hold_when_lower_casing_changes_the_length():
    # "İ" lower-cases to two characters: CVE and ASN positions must still point into the source.
    text = "İstanbul bank: CVE-2023-4863 exploited from AS9121 and ASN 13335"
    e = extract(text)
    assert [(f.kind, f.value, text[f.start:f.end]) for f in e.found] == [
        ("cve", "CVE-2023-4863", "CVE-2023-4863"), ("asn", "AS9121", "AS9121"), ("asn", "AS13335", "ASN 13335")]
