"""The observable vocabulary: canonical forms, detection, STIX patterns and SCOs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stix2patterns.validator import run_validator

from cyberfusion.errors import InvalidInput
from cyberfusion.kit import observables
from cyberfusion.kit.observables import (
    KINDS, detect, from_pattern, from_sco, ip_range, normalise, public_suffix,
    registered_domain, to_pattern, to_sco_type,
)
from cyberfusion.kit.refang import refang

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance"
IOCEXTRACT = CONFORMANCE / "ioc-extraction" / "iocextract"
IOC_FINDER = CONFORMANCE / "ioc-extraction" / "ioc-finder" / "find_iocs_cases.json"

BTC_GENESIS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
XMR_DONATION = ("44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7"
                "f2wfn3RVGQBEP3A")
SHA256_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SHA512_EMPTY = ("cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
                "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e")


def test_kinds_are_the_platform_vocabulary() -> None:
    assert KINDS == ("ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "md5", "sha1",
                     "sha256", "sha512", "btc", "eth", "xmr", "iban", "phone", "asn", "cve")


@pytest.mark.parametrize(("kind", "value", "expected"), [
    ("ipv4-addr", "192.168.0.1", "192.168.0.1"),
    ("ipv4-addr", " 8.8.8.8 ", "8.8.8.8"),
    ("ipv4-addr", "10.1.2.3/8", "10.0.0.0/8"),
    ("ipv4-addr", "10.1.2.3/32", "10.1.2.3"),
    ("ipv4-addr", "198.51.100.0/24", "198.51.100.0/24"),
    ("ipv4-addr", "1.2.3.4/0", "0.0.0.0/0"),
    ("ipv4-addr", "10.0.0.0/255.0.0.0", "10.0.0.0/8"),
    ("ipv6-addr", "2001:0DB8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"),
    ("ipv6-addr", "2001:db8::1/128", "2001:db8::1"),
    ("ipv6-addr", "2001:0db8::1/32", "2001:db8::/32"),
    ("ipv6-addr", "::1", "::1"),
    ("domain-name", "Example.COM.", "example.com"),
    ("domain-name", "www.bbc.co.uk", "www.bbc.co.uk"),
    ("domain-name", "Bücher.example", "xn--bcher-kva.example"),
    ("domain-name", "пример.рф", "xn--e1afmkfd.xn--p1ai"),
    ("domain-name", "xmpp_chat.example.com", "xmpp_chat.example.com"),
    ("domain-name", "corp.local", "corp.local"),
    ("url", "HTTP://Example.COM:80/Path?Q=A#Frag", "http://example.com/Path?Q=A#Frag"),
    ("url", "https://example.com:443", "https://example.com"),
    ("url", "https://example.com:8443/x", "https://example.com:8443/x"),
    ("url", "http://user:pw@Example.com/", "http://user:pw@example.com/"),
    ("url", "http://[2001:DB8::0001]:80/a", "http://[2001:db8::1]/a"),
    ("url", "http://192.168.0.1:8080/x", "http://192.168.0.1:8080/x"),
    ("url", "ftp://files.example.org:21/pub", "ftp://files.example.org/pub"),
    ("url", "http://bücher.example/ä", "http://xn--bcher-kva.example/ä"),
    ("url", "http://localhost/", "http://localhost/"),
    ("email-addr", "John.Doe@Example.COM", "John.Doe@example.com"),
    ("email-addr", "test@[192.168.0.1]", "test@[192.168.0.1]"),
    ("email-addr", '"John..Doe"@example.com', '"John..Doe"@example.com'),
    ("email-addr", "ops@[IPv6:2001:DB8::0001]", "ops@[IPv6:2001:db8::1]"),
    ("email-addr", "jürgen@bücher.de", "jürgen@xn--bcher-kva.de"),
    ("md5", "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e"),
    ("sha1", "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    ("sha256", SHA256_EMPTY.upper(), SHA256_EMPTY),
    ("sha512", SHA512_EMPTY, SHA512_EMPTY),
    ("btc", BTC_GENESIS, BTC_GENESIS),
    ("btc", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
    # BIP-173 test vectors (bech32, witness v0); upper case is lowered.
    ("btc", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
    ("btc", "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
     "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7"),
    # BIP-350 test vectors (bech32m, witness v1+: taproot and future versions).
    ("btc", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
     "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"),
    ("btc", "BC1SW50QGDZ25J", "bc1sw50qgdz25j"),
    ("eth", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"),
    ("eth", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"),
    ("eth", "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb"),
    ("eth", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb", "0xd1220a0cf47c7b9be7a2e6ba89f429762e7b9adb"),
    ("eth", "0x52908400098527886E0F7030069857D2E4169EE7", "0x52908400098527886e0f7030069857d2e4169ee7"),
    ("eth", "0xde709f2102306220921060314715629080e2fb77", "0xde709f2102306220921060314715629080e2fb77"),
    ("xmr", XMR_DONATION, XMR_DONATION),
    ("iban", "GB82WEST12345698765432", "GB82WEST12345698765432"),
    ("iban", "gb82 west 1234 5698 7654 32", "GB82WEST12345698765432"),
    ("iban", "DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
    ("phone", "+41 44 668 18 00", "+41446681800"),
    ("phone", "+1 (650) 253-0000", "+16502530000"),
    ("asn", "AS1234", "AS1234"),
    ("asn", "as1234", "AS1234"),
    ("asn", "1234", "AS1234"),
    ("asn", "ASN 15139", "AS15139"),
    ("asn", "4294967295", "AS4294967295"),
    ("asn", "0", "AS0"),
    ("cve", "cve-2014-0160", "CVE-2014-0160"),
    ("cve", "CVE-2021-44228", "CVE-2021-44228"),
    ("cve", "CVE-2024-1234567", "CVE-2024-1234567"),
])
def test_normalise_gives_the_canonical_form(kind: str, value: str, expected: str) -> None:
    assert normalise(kind, value) == expected
    assert normalise(kind, expected) == expected  # canonical forms are fixed points


@pytest.mark.parametrize(("kind", "value"), [
    ("ipv4-addr", "256.1.1.1"),
    ("ipv4-addr", "1.2.3"),
    ("ipv4-addr", "01.2.3.4"),
    ("ipv4-addr", "10.0.0.0/33"),
    ("ipv4-addr", "::1"),
    ("ipv6-addr", "192.168.0.1"),
    ("ipv6-addr", "fe80::1%eth0"),
    ("ipv6-addr", "2001:db8:::1"),
    ("domain-name", "localhost"),
    ("domain-name", "1.2.3.4"),
    ("domain-name", "-bad.example.com"),
    ("domain-name", "bad-.example.com"),
    ("domain-name", "a..example.com"),
    ("domain-name", "exa mple.com"),
    ("domain-name", "example,com"),
    ("domain-name", "x.x.x.x"),
    ("domain-name", "tooshor.t"),
    ("domain-name", "a" * 64 + ".com"),
    ("domain-name", "xn--zz99.com"),
    ("domain-name", "☃-⌘.com"),
    ("url", "example.com/path"),
    ("url", "javascript://alert(1)"),
    ("url", "http:///path"),
    ("url", "http://example.com:99999/"),
    ("url", "http://example.com:8o/"),
    ("url", "http://exa mple.com/"),
    ("url", "http://example.com/a b"),
    ("url", "http://example,com/"),
    ("url", "http://[example.com"),
    ("url", "http://fdc4:2581:575b:5a72:0000:0000:0000:0001"),
    ("url", "http://example.com\\bad.doc"),
    ("url", "http://192.168.0.999/"),
    ("email-addr", "no-at-sign.example.com"),
    ("email-addr", "@example.com"),
    ("email-addr", "john.smith(comment)@example.com"),
    ("email-addr", "a..b@example.com"),
    ("email-addr", "user@localhost"),
    ("email-addr", "test@[192.168.0.999]"),
    ("email-addr", "test@[10.0.0.0/8]"),
    ("md5", "d41d8cd98f00b204e9800998ecf8427"),
    ("md5", "g41d8cd98f00b204e9800998ecf8427e"),
    ("sha1", "adc83b191b1c6ea0fd8b46cd9f32e592fc"),
    ("sha256", SHA256_EMPTY[:-1]),
    ("sha512", SHA512_EMPTY + "0"),
    ("btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"),
    ("btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN0"),
    # Mixes the two BIP-173 vectors' halves: the checksum fails.
    ("btc", "BC1QW508D6QEJXGDES3FQ5GW5ZNFRGS7VW6NZ9"),
    # BIP-350 invalid vectors: v1 with a bech32 checksum, v0 with a bech32m checksum, mixed case.
    ("btc", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd"),
    ("btc", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh"),
    ("btc", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kV8F3T4"),
    ("btc", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
    ("eth", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"),
    ("eth", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
    ("eth", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae"),
    ("xmr", XMR_DONATION[:-1] + "B"),
    ("xmr", XMR_DONATION[:-1]),
    ("xmr", BTC_GENESIS),
    ("iban", "GB82WEST12345698765431"),
    ("iban", "GB82WEST1234569876543"),
    ("phone", "+41 44 668 18"),
    ("phone", "044 668 18 00"),
    ("phone", "+999 1234 5678"),
    ("asn", "AS4294967296"),
    ("asn", "AS-1"),
    ("asn", "1234foo"),
    ("cve", "CVE-2014-123"),
    ("cve", "CAN-2014-0160"),
    ("cve", "CVE-14-0160"),
])
def test_normalise_rejects_invalid_values(kind: str, value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise(kind, value)
    assert caught.value.field == "value"
    assert f"not a valid {kind}: " in caught.value.detail


def test_normalise_names_the_reason_when_it_knows_it() -> None:
    with pytest.raises(InvalidInput, match="EIP-55 checksum mismatch"):
        normalise("eth", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD")
    with pytest.raises(InvalidInput, match="scheme 'javascript' not supported"):
        normalise("url", "javascript://alert(1)")


def test_normalise_rejects_unknown_kind_and_non_text() -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise("mac-addr", "00:11:22:33:44:55")
    assert caught.value.field == "kind"
    with pytest.raises(InvalidInput) as caught:
        normalise("asn", 1234)  # type: ignore[arg-type]
    assert caught.value.field == "value"


def test_phone_without_country_code_needs_a_default_region() -> None:
    with pytest.raises(InvalidInput):
        normalise("phone", "044 668 18 00")
    assert normalise("phone", "044 668 18 00", default_region="CH") == "+41446681800"
    assert normalise("phone", "044 668 18 00", default_region="ch") == "+41446681800"
    assert normalise("phone", "+1 650 253 0000", default_region="CH") == "+16502530000"


@pytest.mark.parametrize(("value", "expected"), [
    ("192.168.0.1", ("ipv4-addr", "192.168.0.1")),
    ("10.1.2.3/8", ("ipv4-addr", "10.0.0.0/8")),
    ("2001:db8:0:0:0:ff00:42:8329", ("ipv6-addr", "2001:db8::ff00:42:8329")),
    ("::1", ("ipv6-addr", "::1")),
    ("Example.com", ("domain-name", "example.com")),
    ("www.bbc.co.uk.", ("domain-name", "www.bbc.co.uk")),
    ("bücher.de", ("domain-name", "xn--bcher-kva.de")),
    ("a@example.com", ("email-addr", "a@example.com")),
    ("http://example.com:80/path", ("url", "http://example.com/path")),
    ("http://192.168.0.1/x", ("url", "http://192.168.0.1/x")),
    ("d41d8cd98f00b204e9800998ecf8427e", ("md5", "d41d8cd98f00b204e9800998ecf8427e")),
    ("DA39A3EE5E6B4B0D3255BFEF95601890AFD80709", ("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709")),
    (SHA256_EMPTY, ("sha256", SHA256_EMPTY)),
    (SHA512_EMPTY, ("sha512", SHA512_EMPTY)),
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", ("eth", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")),
    (BTC_GENESIS, ("btc", BTC_GENESIS)),
    ("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", ("btc", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")),
    (XMR_DONATION, ("xmr", XMR_DONATION)),
    ("GB82WEST12345698765432", ("iban", "GB82WEST12345698765432")),
    ("+41446681800", ("phone", "+41446681800")),
    ("+41 44 668 18 00", ("phone", "+41446681800")),
    ("CVE-2021-44228", ("cve", "CVE-2021-44228")),
    ("AS15139", ("asn", "AS15139")),
    # Near misses: shapes that fail their check but are still good domain names.
    ("cvent.com", ("domain-name", "cvent.com")),
    ("tb1.example.org", ("domain-name", "tb1.example.org")),
    ("as1234.example.net", ("domain-name", "as1234.example.net")),
])
def test_detect_recognises_each_kind(value: str, expected: tuple[str, str]) -> None:
    assert detect(value) == expected


@pytest.mark.parametrize("value", [
    "", "   ", "1.2.3", "85", "85.85", "1.2.3.4.5", "version 1.2.3.4", "v1.2.3.4",
    "setup.exe", "readme.txt", "file.exe", "report.pdf", "example.tld", "x.x.x.x",
    "15139",  # a bare number is not an ASN without the AS prefix
    "1234567890123456789012345678901234567890",  # 40 digits: a number, not a sha1
    "adc83b191b1c6ea0fd8b46cd9f32e592fc",  # 34 hex: no hash has that length
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",  # bad EIP-55 checksum
    "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",  # bad base58check checksum
    "GB82WEST12345698765431",  # bad IBAN check digits
    "+41 44 668 18",  # too short to be a valid number
    "+example.tld+",
    "192.168.0.1:80",
    "http://example.com/ test",
    "http://setup.exe/",
    "user@readme.txt",
    "example.com/path",
])
def test_detect_rejects_non_indicators(value: str) -> None:
    assert detect(value) is None


def test_detect_prefers_sha1_over_eth_and_needs_0x_for_eth() -> None:
    digits = "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
    assert detect(digits) == ("sha1", digits)
    assert detect("0x" + digits) == ("eth", "0x" + digits)


@pytest.mark.parametrize(("domain", "registered", "suffix"), [
    ("www.bbc.co.uk", "bbc.co.uk", "co.uk"),
    ("WWW.Example.COM.", "example.com", "com"),
    ("a.b.c.example.com.au", "example.com.au", "com.au"),
    ("foo.github.io", "github.io", "io"),  # private suffixes are not used
    ("пример.рф", "xn--e1afmkfd.xn--p1ai", "xn--p1ai"),
    ("co.uk", None, "co.uk"),
    ("setup.exe", None, None),
    ("1.2.3.4", None, None),
    ("not a domain", None, None),
])
def test_registered_domain_and_public_suffix(domain: str, registered: str | None,
                                             suffix: str | None) -> None:
    assert registered_domain(domain) == registered
    assert public_suffix(domain) == suffix


def test_public_suffix_list_is_the_offline_snapshot() -> None:
    extractor = observables._extractor()
    assert tuple(extractor.suffix_list_urls) == ()
    assert extractor is observables._extractor()


@pytest.mark.parametrize(("value", "expected"), [
    ("10.0.0.0/8", ("00000000000000000000ffff0a000000", "00000000000000000000ffff0affffff")),
    ("10.1.2.3/8", ("00000000000000000000ffff0a000000", "00000000000000000000ffff0affffff")),
    ("192.168.0.1", ("00000000000000000000ffffc0a80001", "00000000000000000000ffffc0a80001")),
    ("0.0.0.0/0", ("00000000000000000000ffff00000000", "00000000000000000000ffffffffffff")),
    ("::ffff:192.168.0.1", ("00000000000000000000ffffc0a80001", "00000000000000000000ffffc0a80001")),
    ("::1", ("00000000000000000000000000000001", "00000000000000000000000000000001")),
    ("2001:db8::/32", ("20010db8000000000000000000000000", "20010db8ffffffffffffffffffffffff")),
])
def test_ip_range_is_inclusive_hex_in_one_ipv6_space(value: str, expected: tuple[str, str]) -> None:
    assert ip_range(value) == expected


def test_ip_range_of_an_ipv4_address_is_what_ipaddress_says() -> None:
    """Plain IPv4 addresses take a short path; it must agree with the ipaddress one."""
    import ipaddress
    import random

    rng = random.Random(20261127)
    values = ["0.0.0.0", "255.255.255.255", " 10.0.0.1\n", "1.2.3.4"]
    values += [".".join(str(rng.randrange(256)) for _ in range(4)) for _ in range(2000)]
    for value in values:
        number = int(ipaddress.IPv4Address(value.strip())) | 0xFFFF << 32
        assert ip_range(value) == (f"{number:032x}", f"{number:032x}"), value
    for bad in ("01.2.3.4", "256.1.1.1", "1.2.3", "1.2.3.4.5"):
        with pytest.raises(InvalidInput):
            ip_range(bad)


def test_ip_range_containment_is_a_string_comparison() -> None:
    low, high = ip_range("192.168.0.0/16")
    inside, _ = ip_range("192.168.77.1")
    outside, _ = ip_range("192.169.0.0")
    below, _ = ip_range("192.167.255.255")
    v6, _ = ip_range("2001:db8::1")
    assert low <= inside <= high
    assert not low <= outside <= high
    assert not low <= below <= high
    assert not low <= v6 <= high


def test_ip_range_rejects_non_ips() -> None:
    with pytest.raises(InvalidInput) as caught:
        ip_range("example.com")
    assert caught.value.field == "value"


@pytest.mark.parametrize(("pattern", "expected"), [
    ("[ipv4-addr:value = '198.51.100.1']", [("ipv4-addr", "198.51.100.1")]),
    ("[ipv4-addr:value = '198.51.100.7/24']", [("ipv4-addr", "198.51.100.0/24")]),
    ("[ipv6-addr:value = '2001:0db8::0001']", [("ipv6-addr", "2001:db8::1")]),
    ("[domain-name:value = 'Example.COM']", [("domain-name", "example.com")]),
    ("[url:value = 'HTTP://Example.com:80/a']", [("url", "http://example.com/a")]),
    ("[email-addr:value = 'A@Example.com']", [("email-addr", "A@example.com")]),
    ("[email-message:from_ref.value = 'src@email.test']", [("email-addr", "src@email.test")]),
    ("[file:hashes.MD5 = 'D41D8CD98F00B204E9800998ECF8427E']",
     [("md5", "d41d8cd98f00b204e9800998ecf8427e")]),
    ("[file:hashes.md5 = 'd41d8cd98f00b204e9800998ecf8427e']",
     [("md5", "d41d8cd98f00b204e9800998ecf8427e")]),
    ("[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']",
     [("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709")]),
    ("[file:hashes.SHA1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']",
     [("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709")]),
    (f"[file:hashes.'SHA-256' = '{SHA256_EMPTY}']", [("sha256", SHA256_EMPTY)]),
    (f"[file:hashes.'sha-256' = '{SHA256_EMPTY}']", [("sha256", SHA256_EMPTY)]),
    (f"[file:hashes.SHA256 = '{SHA256_EMPTY}']", [("sha256", SHA256_EMPTY)]),
    (f"[file:hashes.'SHA-512' = '{SHA512_EMPTY}']", [("sha512", SHA512_EMPTY)]),
    ("[autonomous-system:number = 15139]", [("asn", "AS15139")]),
    (f"[cryptocurrency-wallet:value = '{BTC_GENESIS}']", [("btc", BTC_GENESIS)]),
    ("[cryptocurrency-wallet:value = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed']",
     [("eth", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")]),
    (f"[cryptocurrency-wallet:value = '{XMR_DONATION}']", [("xmr", XMR_DONATION)]),
    ("[bank-account:iban = 'GB82 WEST 1234 5698 7654 32']", [("iban", "GB82WEST12345698765432")]),
    ("[phone-number:value = '+41 44 668 18 00']", [("phone", "+41446681800")]),
    ("[vulnerability:name = 'cve-2021-44228']", [("cve", "CVE-2021-44228")]),
    ("  [ file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e' ]  ",
     [("md5", "d41d8cd98f00b204e9800998ecf8427e")]),
    ("[ipv4-addr:value = '198.51.100.1' OR ipv4-addr:value = '203.0.113.1']",
     [("ipv4-addr", "198.51.100.1"), ("ipv4-addr", "203.0.113.1")]),
    ("[domain-name:value = 'example.com'] OR [ipv4-addr:value = '198.51.100.1' OR\n url:value = "
     "'http://example.com/']", [("domain-name", "example.com"), ("ipv4-addr", "198.51.100.1"),
                                ("url", "http://example.com/")]),
    ("[ipv4-addr:value='198.51.100.1']OR[ipv6-addr:value='::1']",
     [("ipv4-addr", "198.51.100.1"), ("ipv6-addr", "::1")]),
    ("[url:value = 'http://example.com/it\\'s\\\\here']", [("url", "http://example.com/it's\\here")]),
])
def test_from_pattern_reads_simple_patterns(pattern: str, expected: list[tuple[str, str]]) -> None:
    assert from_pattern(pattern) == expected
    assert run_validator(pattern) == []  # the fast path never accepts what the full parser rejects


@pytest.mark.parametrize("pattern", [
    "[ipv4-addr:value = '198.51.100.1' AND ipv4-addr:value = '203.0.113.1']",
    "[ipv4-addr:value = '198.51.100.1'] AND [ipv4-addr:value = '203.0.113.1']",
    "[ipv4-addr:value = '198.51.100.1'] FOLLOWEDBY [ipv4-addr:value = '203.0.113.1']",
    "[ipv4-addr:value = '198.51.100.1'] WITHIN 300 SECONDS",
    "[ipv4-addr:value = '198.51.100.1'] REPEATS 5 TIMES",
    "[ipv4-addr:value = '198.51.100.1'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'",
    "([ipv4-addr:value = '198.51.100.1'] OR [ipv4-addr:value = '203.0.113.1'])",
    "[ipv4-addr:value != '198.51.100.1']",
    "[NOT ipv4-addr:value = '198.51.100.1']",
    "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
    "[ipv4-addr:value IN ('198.51.100.1', '203.0.113.1')]",
    "[url:value LIKE 'http://example.com/%']",
    "[domain-name:value MATCHES '^example']",
    "[file:name = 'setup.exe']",
    "[file:hashes.'SHA3-256' = '39725234628358bcce613d1d1c07c2c3d2d106e3a6ac192016b46e5dddcd03f4']",
    "[file:hashes.SSDEEP = '3:a:b']",
    "[x509-certificate:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
    "[autonomous-system:number = '15139']",
    "[ipv4-addr:value = 198]",
    "[ipv4-addr:value = '198.51.100.1' or ipv4-addr:value = '203.0.113.1']",
    "[ipv4-addr:value = '198.51.100.1'] or [ipv4-addr:value = '203.0.113.1']",
    "[ipv4-addr:value = '198.51.100.1' OR]",
    "[ipv4-addr:value = '198.51.100.1'",
    "ipv4-addr:value = '198.51.100.1'",
    "[url:value = 'http://example.com/\\n']",
    "",
])
def test_from_pattern_declines_everything_else(pattern: str) -> None:
    assert from_pattern(pattern) is None


def test_from_pattern_rejects_bad_values_in_simple_patterns() -> None:
    with pytest.raises(InvalidInput) as caught:
        from_pattern("[ipv4-addr:value = '198.51.100.1' OR ipv4-addr:value = '198.51.100.999']")
    assert caught.value.field == "pattern"
    assert "198.51.100.999" in caught.value.detail


@pytest.mark.parametrize(("kind", "value", "expected"), [
    ("ipv4-addr", "198.51.100.1", "[ipv4-addr:value = '198.51.100.1']"),
    ("ipv4-addr", "10.0.0.0/8", "[ipv4-addr:value = '10.0.0.0/8']"),
    ("ipv6-addr", "2001:db8::1", "[ipv6-addr:value = '2001:db8::1']"),
    ("domain-name", "example.com", "[domain-name:value = 'example.com']"),
    ("url", "http://example.com/it's\\x", "[url:value = 'http://example.com/it\\'s\\\\x']"),
    ("email-addr", "a@example.com", "[email-addr:value = 'a@example.com']"),
    ("md5", "d41d8cd98f00b204e9800998ecf8427e",
     "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']"),
    ("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709",
     "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']"),
    ("sha256", SHA256_EMPTY, f"[file:hashes.'SHA-256' = '{SHA256_EMPTY}']"),
    ("sha512", SHA512_EMPTY, f"[file:hashes.'SHA-512' = '{SHA512_EMPTY}']"),
    ("btc", BTC_GENESIS, f"[cryptocurrency-wallet:value = '{BTC_GENESIS}']"),
    ("eth", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
     "[cryptocurrency-wallet:value = '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed']"),
    ("xmr", XMR_DONATION, f"[cryptocurrency-wallet:value = '{XMR_DONATION}']"),
    ("iban", "GB82WEST12345698765432", "[bank-account:iban = 'GB82WEST12345698765432']"),
    ("phone", "+41446681800", "[phone-number:value = '+41446681800']"),
    ("asn", "AS15139", "[autonomous-system:number = 15139]"),
    ("cve", "CVE-2021-44228", "[vulnerability:name = 'CVE-2021-44228']"),
])
def test_to_pattern_is_the_inverse_of_from_pattern(kind: str, value: str, expected: str) -> None:
    assert to_pattern(kind, value) == expected
    assert from_pattern(expected) == [(kind, value)]
    assert run_validator(expected) == []


def test_to_pattern_normalises_first() -> None:
    assert to_pattern("domain-name", "WWW.Example.COM.") == "[domain-name:value = 'www.example.com']"
    with pytest.raises(InvalidInput):
        to_pattern("md5", "not-a-hash")


def test_to_sco_type_names_the_holding_object() -> None:
    assert {kind: to_sco_type(kind) for kind in KINDS} == {
        "ipv4-addr": "ipv4-addr", "ipv6-addr": "ipv6-addr", "domain-name": "domain-name",
        "url": "url", "email-addr": "email-addr", "md5": "file", "sha1": "file", "sha256": "file",
        "sha512": "file", "btc": "cryptocurrency-wallet", "eth": "cryptocurrency-wallet",
        "xmr": "cryptocurrency-wallet", "iban": "bank-account", "phone": "phone-number",
        "asn": "autonomous-system", "cve": "vulnerability",
    }
    with pytest.raises(InvalidInput) as caught:
        to_sco_type("mac-addr")
    assert caught.value.field == "kind"


@pytest.mark.parametrize(("sco", "expected"), [
    ({"type": "ipv4-addr", "value": "198.51.100.3"}, [("ipv4-addr", "198.51.100.3")]),
    ({"type": "ipv6-addr", "value": "2001:0db8::/96"}, [("ipv6-addr", "2001:db8::/96")]),
    ({"type": "domain-name", "value": "Example.com"}, [("domain-name", "example.com")]),
    ({"type": "url", "value": "https://example.com/research/index.html"},
     [("url", "https://example.com/research/index.html")]),
    ({"type": "email-addr", "value": "John@Example.com", "display_name": "John"},
     [("email-addr", "John@example.com")]),
    ({"type": "file", "name": "x.exe", "hashes": {
        "MD5": "A92E5B2BAE0B4B3A3D81C85610B95CD4", "SHA-1": "5374e08903744ceeaedd8f5e1bfc06b2c4688e76",
        "SHA-256": SHA256_EMPTY, "SHA-512": SHA512_EMPTY, "SSDEEP": "3:a:b", "TLSH": "T1"}},
     [("md5", "a92e5b2bae0b4b3a3d81c85610b95cd4"), ("sha1", "5374e08903744ceeaedd8f5e1bfc06b2c4688e76"),
      ("sha256", SHA256_EMPTY), ("sha512", SHA512_EMPTY)]),
    ({"type": "autonomous-system", "number": 15139, "name": "Slime Industries"},
     [("asn", "AS15139")]),
    ({"type": "cryptocurrency-wallet", "value": BTC_GENESIS}, [("btc", BTC_GENESIS)]),
    ({"type": "cryptocurrency-wallet", "value": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"},
     [("eth", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")]),
    ({"type": "cryptocurrency-wallet", "value": XMR_DONATION}, [("xmr", XMR_DONATION)]),
    ({"type": "bank-account", "iban": "GB82 WEST 1234 5698 7654 32"},
     [("iban", "GB82WEST12345698765432")]),
    ({"type": "phone-number", "value": "+41 44 668 18 00"}, [("phone", "+41446681800")]),
    # Odd content is skipped, never raised.
    ({"type": "ipv4-addr", "value": "not an ip"}, []),
    ({"type": "file", "hashes": {"MD5": "short", "SHA-256": 42}}, []),
    ({"type": "file", "hashes": "not a dict"}, []),
    ({"type": "file", "name": "no hashes.txt"}, []),
    ({"type": "autonomous-system", "number": True}, []),
    ({"type": "cryptocurrency-wallet", "value": None}, []),
    ({"type": "mutex", "name": "Global\\x"}, []),
    ({"value": "198.51.100.3"}, []),
])
def test_from_sco(sco: dict, expected: list[tuple[str, str]]) -> None:
    assert from_sco(sco) == expected


# --- conformance data --------------------------------------------------------

def test_from_sco_on_the_oasis_sco_examples() -> None:
    bundle = json.loads((CONFORMANCE / "stix21" / "valid" / "sco-examples-bundle.json").read_text())
    found = {obj["id"]: from_sco(obj) for obj in bundle["objects"]}
    assert found["ipv4-addr--5853f6a4-638f-5b4e-9b0f-ded361ae3812"] == [("ipv4-addr", "198.51.100.0/24")]
    assert found["ipv6-addr--1e61d36c-a16c-53b7-a80f-2a00161c96b1"] == [
        ("ipv6-addr", "2001:db8:85a3::8a2e:370:7334")]
    assert found["ipv6-addr--5daf7456-8863-5481-9d42-237d477697f4"] == [("ipv6-addr", "2001:db8::/96")]
    assert found["file--1190f2c9-166f-55f1-9706-eea3971d8082"] == [
        ("md5", "a92e5b2bae0b4b3a3d81c85610b95cd4"), ("sha1", "5374e08903744ceeaedd8f5e1bfc06b2c4688e76")]
    assert found["autonomous-system--f720c34b-98ae-597f-ade5-27dc241e8c74"] == [("asn", "AS15139")]
    assert found["url--c1477287-23ac-5971-a010-5c287877fa60"] == [
        ("url", "https://example.com/research/index.html")]
    kinds = sorted({kind for pairs in found.values() for kind, _ in pairs})
    assert kinds == ["asn", "domain-name", "email-addr", "ipv4-addr", "ipv6-addr", "md5", "sha1",
                     "sha256", "url"]


def _indicator_patterns() -> dict[str, str]:
    """Every STIX-language pattern in the conformance corpus -> the first file holding it."""
    patterns: dict[str, str] = {}

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            if (node.get("type") == "indicator" and isinstance(node.get("pattern"), str)
                    and node.get("pattern_type", "stix") == "stix"):
                patterns.setdefault(node["pattern"], where)
            for child in node.values():
                walk(child, where)
        elif isinstance(node, list):
            for child in node:
                walk(child, where)

    for path in sorted(CONFORMANCE.rglob("*.json")):
        try:
            walk(json.loads(path.read_text(encoding="utf-8")), str(path.relative_to(CONFORMANCE)))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
    return patterns


def test_from_pattern_on_every_conformance_indicator() -> None:
    accepted, declined, rejected = 0, 0, []
    for pattern in _indicator_patterns():
        try:
            result = from_pattern(pattern)
        except InvalidInput:
            rejected.append(pattern)
            continue
        if result is None:
            declined += 1
        else:
            accepted += 1
            assert result, pattern
            assert run_validator(pattern) == [], pattern
    assert (accepted, declined) == (51, 104)
    # A real upstream slip (threat-report-poisonivy.json): a space inside a domain value.
    assert rejected == ["[domain-name:value = 'domain autuo.xicp.net' OR ipv4-addr:value = '60.10.1.115']"]


def test_from_pattern_on_the_poisonivy_report() -> None:
    pattern = ("[domain-name:value = 'e.ct.toh.info' OR ipv4-addr:value = '101.78.151.179']")
    assert pattern in _indicator_patterns()
    assert from_pattern(pattern) == [("domain-name", "e.ct.toh.info"), ("ipv4-addr", "101.78.151.179")]


def _lines(name: str) -> list[str]:
    return list(dict.fromkeys((IOCEXTRACT / name).read_text(encoding="utf-8").splitlines()))


# Each line iocextract extracts, refanged then detected as one token. Lines that
# are not a single indicator in our vocabulary (scheme-less URLs, host:port,
# unbracketed IPv6 in a URL, commas for dots, partial phone numbers) give None.
IOCEXTRACT_VALID = {
    "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b":
        ("sha256", "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b"),
    "192.168.0.1": ("ipv4-addr", "192.168.0.1"),
    "192[.]168[.]0[.]1": ("ipv4-addr", "192.168.0.1"),
    "192[.]168[dot]0[.]1": ("ipv4-addr", "192.168.0.1"),
    "68b329da9893e34099c7d8ad5cb9c940": ("md5", "68b329da9893e34099c7d8ad5cb9c940"),
    "adc83b19e793491b1c6ea0fd8b46cd9f32e592fc": ("sha1", "adc83b19e793491b1c6ea0fd8b46cd9f32e592fc"),
    "be688838ca8686e5c90689bf2ab585cef1137c999b48c70b92f67a5c34dc15697b5d11c982ed6d71be1e1e7f7b4e07"
    "33884aa97c3f7a339a8ed03577cf74be09":
        ("sha512", "be688838ca8686e5c90689bf2ab585cef1137c999b48c70b92f67a5c34dc15697b5d11c982ed6d71"
                   "be1e1e7f7b4e0733884aa97c3f7a339a8ed03577cf74be09"),
    "http://123.123.123.123/test": ("url", "http://123.123.123.123/test"),
    "http://192.168.0.1": ("url", "http://192.168.0.1"),
    "http://192.168.0.1:80/path": ("url", "http://192.168.0.1/path"),
    "http://192[.]168[.]0[.]1": ("url", "http://192.168.0.1"),
    "http://192[.]168[.]0[.]1:80/path": ("url", "http://192.168.0.1/path"),
    "http://[example.com": None,
    "http://[fdc4:2581:575b:5a72:0000:0000:0000:0001]:80/path":
        ("url", "http://[fdc4:2581:575b:5a72::1]/path"),
    "http://ex4mple.com": ("url", "http://ex4mple.com"),
    "http://exa-mple.com": ("url", "http://exa-mple.com"),
    "http://example.com": ("url", "http://example.com"),
    "http://example.com/": ("url", "http://example.com/"),
    "http://example.com:80/path": ("url", "http://example.com/path"),
    "http://example.com[/]test": ("url", "http://example.com/test"),
    "http://example[.]com": ("url", "http://example.com"),
    "http://example[.]com/": ("url", "http://example.com/"),
    "http://example[.]com/[.]": ("url", "http://example.com/."),
    "http://example[.]com/[.].com": ("url", "http://example.com/..com"),
    "http://fdc4:2581:575b:5a72:0000:0000:0000:0001": None,
    "hxxp://example.com": ("url", "http://example.com"),
    "hxxp://example[.]com": ("url", "http://example.com"),
    "hxxp://example[.]com/": ("url", "http://example.com/"),
    "tcp://192[.]168[.]0[.]1:80/path": ("url", "tcp://192.168.0.1:80/path"),
    "tcp://[fdc4:2581:575b:5a72:0000:0000:0000:0001]:80/path":
        ("url", "tcp://[fdc4:2581:575b:5a72::1]:80/path"),
    "192[.]168[.]0[.]1:80/path": None,
    "192[.]168[.]0[.]1:9090/url": None,
    "192[.]188[dot]0[.]1:9090/url": None,
    "example[.]com": ("domain-name", "example.com"),
    "example[.]com/": None,
    "http://example(.)com/": ("url", "http://example.com/"),
    "http://example,com/": None,
    "http://example[.com/": None,
    "hxxp://example[dot]com/": ("url", "http://example.com/"),
    "hxxps://example[.]com/": ("url", "https://example.com/"),
    "short[.]is": ("domain-name", "short.is"),
    "tcp://example[.]com/": ("url", "tcp://example.com/"),
    "tcp://example[.]com:80/": ("url", "tcp://example.com:80/"),
    "456-7890": None,
}


def test_iocextract_valid_lines_refang_and_detect() -> None:
    assert {line: detect(refang(line)) for line in _lines("valid.txt")} == IOCEXTRACT_VALID


def test_iocextract_invalid_lines_are_not_indicators() -> None:
    found = {line: detect(refang(line)) for line in _lines("invalid.txt")}
    # iocextract does not extract CIDR ranges; in this vocabulary a range is an ipv4-addr.
    assert found.pop("100.20.30.0/24") == ("ipv4-addr", "100.20.30.0/24")
    assert found == dict.fromkeys(found)
    assert len(found) == 10


# ioc-finder result key -> our kind.
IOC_FINDER_KINDS = {
    "asns": "asn", "bitcoin_addresses": "btc", "monero_addresses": "xmr", "cves": "cve",
    "domains": "domain-name", "email_addresses": "email-addr", "ipv4s": "ipv4-addr",
    "ipv6s": "ipv6-addr", "ipv4_cidrs": "ipv4-addr", "md5s": "md5", "sha1s": "sha1",
    "sha256s": "sha256", "sha512s": "sha512", "urls": "url",
}
# Where our canonical form differs from ioc-finder's convention, or the value is
# outside our vocabulary (scheme-less URLs, a URL cut at the userinfo).
IOC_FINDER_DIFFERENCES = {
    "ASN1234": ("asn", "AS1234"),
    "2001:0db8:0000:0000:0000:ff00:0042:8329": ("ipv6-addr", "2001:db8::ff00:42:8329"),
    "2001:db8:0:0:0:ff00:42:8329": ("ipv6-addr", "2001:db8::ff00:42:8329"),
    "1.1.1.1/0": ("ipv4-addr", "0.0.0.0/0"),
    "1.2.3.4/0": ("ipv4-addr", "0.0.0.0/0"),
    "1.2.3.4/10": ("ipv4-addr", "1.0.0.0/10"),
    "1.2.3.4/20": ("ipv4-addr", "1.2.0.0/20"),
    "1.2.3.4/32": ("ipv4-addr", "1.2.3.4"),
    "foobar.com/test/bingo.php": None,
    "example.com/abc": None,
    "password@example.com:8080/": None,
}


def _ioc_finder_cases() -> list[dict]:
    data = json.loads(IOC_FINDER.read_text(encoding="utf-8"))
    return [case for group in data["cases"].values() for case in group]


def test_ioc_finder_expected_values_detect_as_the_same_kind() -> None:
    checked = 0
    for case in _ioc_finder_cases():
        for key, values in case["expected"].items():
            if key not in IOC_FINDER_KINDS:
                continue
            for value in values:
                expected = IOC_FINDER_DIFFERENCES.get(value, (IOC_FINDER_KINDS[key], value))
                assert detect(value) == expected, (case["id"], key, value)
                checked += 1
    assert checked == 138


@pytest.mark.parametrize(("case_id", "expected"), [
    ("asn_1", ("asn", "AS1234")),
    ("asn_2", ("asn", "AS1234")),
    ("asn_4", ("asn", "AS1234")),
    ("asn_8", ("domain-name", "nwd2hubcas1234.ad.analog.com")),
    ("asn_10", ("asn", "AS1234")),
    ("attack_pattern_5", None),
    ("attack_pattern_15", None),
    ("google_publisher_id_1", None),
    ("monero_1", ("xmr", "496aKKdqF1xQSSEzw7wNrkZkDUsCD5cSmNCfVhVgEps52WERBcLDGzdF5UugmFoHMm9xRJdewvK2T"
                         "FfAJNwEV25rTcVF5Vp")),
    ("domain-percent_encoding_not_unquoted_if_not_in_url", None),
    ("Consecutive slashes handled properly", ("url", "https://example.com/g//foo")),
    ("Complete URLs support userinfo in authority", ("url", "http://userid:password@example.com:8080/")),
])
def test_ioc_finder_single_token_inputs(case_id: str, expected: tuple[str, str] | None) -> None:
    case = next(c for c in _ioc_finder_cases() if c["id"] == case_id)
    assert detect(case["input"]) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("asn 1234", "AS1234"), ("AS 1234", "AS1234"), ("ASN 1234", "AS1234"),
])
def test_ioc_finder_spaced_asns_normalise(text: str, expected: str) -> None:
    assert normalise("asn", text) == expected


def test_ioc_finder_cve_spellings_normalise() -> None:
    case = next(c for c in _ioc_finder_cases() if c["id"] == "cve_1")
    spellings = ["cve-2014-1000", "cve 2014-1001", "cve-1999-1002", "CVE 2999-1003", "CVE 1928-1004"]
    assert all(spelling in case["input"] for spelling in spellings)
    assert [normalise("cve", s) for s in spellings] == case["expected"]["cves"]
