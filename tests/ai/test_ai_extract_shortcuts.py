"""The extractor's speed shortcuts change no result.

Old-versus-new semantics: the pre-masks that skip whole-text passes (``_PRE_MASKS``) and the
packed IPv4 verdict (``_ipv4_verdict``) are switched back to the plain code path, and both runs
must agree on everything (suggestions, positions, confidences, reasons, what is set aside) over
the shipped corpora and over generated text.
"""

from __future__ import annotations

import ipaddress
import json
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cyberfusion.ai import extract as extract_module
from cyberfusion.ai.extract import extract


def _ip_verdict_by_ipaddress(value: str, keep_reserved: bool) -> tuple[float, str] | str:
    """The verdict as computed before the packed shortcut: ipaddress objects throughout."""
    address = ipaddress.ip_address(value.split("/")[0])
    if keep_reserved:
        return 0.9, f"valid IPv{address.version} address"
    if any(address in net for net in extract_module._DOC_NETS if net.version == address.version):
        return "documentation range (RFC 5737/3849): an example, not an indicator"
    if address.is_loopback or address.is_unspecified or address.is_multicast or value.startswith("255."):
        return "loopback, unspecified, multicast or netmask address: not an indicator"
    if address.is_private:
        return 0.5, "private address: only meaningful inside the affected network"
    return 0.9, f"public IPv{address.version} address"


def _addresses() -> list[str]:
    values = [f"{a}.{b}.{c}.{d}" for a in range(256) for b in (0, 2, 51, 100, 168, 255)
              for c, d in ((0, 0), (0, 170), (2, 5), (113, 9), (255, 255))]
    return values + [v + "/24" for v in values[::7]] + ["192.0.2.0/24", "10.0.0.0/8", "0.0.0.0/0"]


def test_documentation_ranges_of_ipv4_are_slash_24s() -> None:
    assert [net.prefixlen for net in extract_module._DOC_NETS if net.version == 4] == [24, 24, 24]


@pytest.mark.parametrize("keep_reserved", [False, True])
def test_packed_ipv4_verdict_equals_the_ipaddress_verdict(keep_reserved: bool) -> None:
    mismatches = [(v, ours, theirs) for v in _addresses()
                  if (ours := extract_module._ipv4_verdict(v, keep_reserved))
                  != (theirs := _ip_verdict_by_ipaddress(v, keep_reserved))]
    assert mismatches == []


def _outcome(text: str, **kw: Any) -> tuple[list[Any], list[Any]]:
    e = extract(text, **kw)
    return list(e.found), list(e.skipped)


def _without_shortcuts(text: str, **kw: Any) -> tuple[list[Any], list[Any]]:
    saved = extract_module._PRE_MASKS, extract_module._ipv4_verdict
    extract_module._PRE_MASKS, extract_module._ipv4_verdict = False, _ip_verdict_by_ipaddress
    extract_module._ip_verdict.cache_clear()
    try:
        return _outcome(text, **kw)
    finally:
        extract_module._PRE_MASKS, extract_module._ipv4_verdict = saved
        extract_module._ip_verdict.cache_clear()


def _shipped_texts() -> list[str]:
    base = resources.files("cyberfusion.ai").joinpath("eval")
    labels = json.loads(base.joinpath("extraction/labels.json").read_text("utf-8"))
    texts = [base.joinpath(f"extraction/{rid}.txt").read_text("utf-8") for rid in labels]
    lines = base.joinpath("classification/reports.jsonl").read_text("utf-8").splitlines()
    return texts + [json.loads(line)["text"] for line in lines if line.strip()]


@pytest.mark.parametrize("options", [{}, {"keep_reserved": True, "min_confidence": 0.0}])
def test_shortcuts_change_nothing_on_the_shipped_corpora(options: dict[str, Any]) -> None:
    texts = _shipped_texts()
    assert [_outcome(t, **options) for t in texts] == [_without_shortcuts(t, **options) for t in texts]


_PIECES = [
    "1.2.3.4", "185.220.101.4", "10.0.0.1", "192.0.2.5", "127.0.0.1", "224.1.1.1", "255.255.255.0", "0.0.0.0",
    "1.2.3.4/24", "v1.2.3.4", "version", "evil[.]com", "www.bbc.co.uk", "setup.exe", "hxxp://", "https://",
    "/x", "@", "[at]", "user", "2001:db8::1", "fe80::1", "d41d8cd98f00b204e9800998ecf8427e", "sha256",
    "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "GB82 WEST 1234 5698 7654 32", "gb82west12345698765432",
    "+44 20 7946 0958", "+", "CVE-2024-3400", "cve-2021-44228", "AS13335", "as13335", "as", "İ", "ǅ", "x",
    " ", " ", "\n", ".", ",", "(", ")", "[.]", "0x52908400098527886E0F7030069857D2E4169EE7",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12), st.booleans())
def test_shortcuts_change_nothing_on_generated_text(pieces: list[str], keep: bool) -> None:
    text = "".join(pieces)
    options = {"keep_reserved": keep, "min_confidence": 0.0}
    assert _outcome(text, **options) == _without_shortcuts(text, **options)


def test_address_verdicts_exactly() -> None:
    text = ("hosts 10.0.0.1 127.0.0.1 224.0.0.1 239.255.255.255 240.0.0.1 0.0.0.0 255.255.255.0 192.0.2.1 "
            "198.51.100.7 203.0.113.9 100.64.0.1 192.0.0.170 169.254.1.1 8.8.8.8 10.1.2.3/8 192.0.2.0/24")
    e = extract(text, min_confidence=0.0)
    assert [(f.value, f.confidence) for f in e.found] == [
        ("10.0.0.1", 0.5), ("240.0.0.1", 0.5), ("100.64.0.1", 0.9), ("192.0.0.170", 0.5), ("169.254.1.1", 0.5),
        ("8.8.8.8", 0.9), ("10.0.0.0/8", 0.5)]
    not_an_indicator = "loopback, unspecified, multicast or netmask address: not an indicator"
    documentation = "documentation range (RFC 5737/3849): an example, not an indicator"
    assert [(s.raw, s.reason) for s in e.skipped] == [
        ("127.0.0.1", not_an_indicator), ("224.0.0.1", not_an_indicator), ("239.255.255.255", not_an_indicator),
        ("0.0.0.0", not_an_indicator), ("255.255.255.0", not_an_indicator), ("192.0.2.1", documentation),
        ("198.51.100.7", documentation), ("203.0.113.9", documentation), ("192.0.2.0/24", documentation)]


def test_masked_passes_still_run_when_lower_casing_moves_positions() -> None:
    # "İ" lower-cases to two characters; the CVE and ASN scans read one byte per character ("?").
    text = "İstanbul AS13335 and CVE-2024-3400 via +44 20 7946 0958, iban GB82 WEST 1234 5698 7654 32"
    assert [(f.kind, f.value) for f in extract(text).found] == [
        ("cve", "CVE-2024-3400"), ("iban", "GB82WEST12345698765432"), ("phone", "+442079460958"),
        ("asn", "AS13335")]


def test_lower_case_text_skips_only_the_iban_pass() -> None:
    text = "lower case only: gb82 west 1234 5698 7654 32, as13335, cve-2021-44228 and evil[.]com"
    assert [(f.kind, f.value) for f in extract(text).found] == [
        ("domain-name", "evil.com"), ("cve", "CVE-2021-44228"), ("asn", "AS13335")]


@pytest.mark.parametrize(("text", "found", "skipped"), [
    ("sha512 " + "ab" * 64, [("sha512", 7, 135)], []),                  # a run ending the text
    ("x " + "ab" * 64 + "c", [], [(2, 131, "129 hex digits: no hash algorithm has that length")]),
    ("a" * 141, [], []),                                                 # longer than any candidate
    ("ab" * 12 + "aé" + "ab" * 64, [], []),                              # a letter outside ASCII joins runs
    ("é1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", [], []),
    ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", [("btc", 0, 34)], []),
])
def test_long_runs_exactly(text: str, found: list[tuple[str, int, int]], skipped: list[tuple[int, int, str]]) -> None:
    e = extract(text, min_confidence=0.0)
    assert [(f.kind, f.start, f.end) for f in e.found] == found
    assert [(s.start, s.end, s.reason) for s in e.skipped] == skipped


@pytest.mark.parametrize(("text", "found"), [
    # CVE, ASN and IBAN openings are searched in the text's bytes, "?" standing for each character
    # outside ASCII: a blank outside ASCII still joins "CVE" to its year, another character does not.
    ("CVE\xa02021-44228 and cve\x1c2022-0001 but CVE\xe92023-1234",
     [("cve", "CVE-2021-44228", 0, 14), ("cve", "CVE-2022-0001", 19, 32)]),
    ("ASN\xa01234 \u212aas 5 AS13335", [("asn", "AS13335", 15, 22)]),
    ("x\u0130 GB82WEST12345698765432", [("iban", "GB82WEST12345698765432", 3, 25)]),
    ("see evil.com:", [("domain-name", "evil.com", 4, 12)]),         # a colon at the end is no anchor
    ("mail me: a@", []),                                              # "@" as the last character is one
])
def test_byte_scans_exactly(text: str, found: list[tuple[str, str, int, int]]) -> None:
    e = extract(text, min_confidence=0.0)
    assert [(f.kind, f.value, f.start, f.end) for f in e.found] == found
    assert e.skipped == []
