"""Hostile input for the observable vocabulary and STIX patterns (fast path and full parser).

normalise/detect/refang/from_pattern take any text; each gives a value or an
InvalidInput naming its field. Whatever normalises survives the round trip through a
STIX pattern unchanged.
"""

from __future__ import annotations

from hostile import result_or_located
from hypothesis import example, given
from hypothesis import strategies as st

from cyberfusion.errors import InvalidInput
from cyberfusion.ingest.observables import observables_of
from cyberfusion.ingest.stix import validate_object
from cyberfusion.kit.observables import (
    KINDS,
    detect,
    from_pattern,
    normalise,
    to_pattern,
)
from cyberfusion.kit.refang import refang

_VALUE_PARTS = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["1.2.3.4", "256.1.1.1", "::1", "2001:db8::/32", "10.0.0.0/8", "/", "evil.example", "xn--",
                     "xn--80ak6aa92e.com", ".", "..", "http://", "hxxps://", "[.]", "@", "a@b", "AS", "CVE-", "+",
                     "0x", "bc1q", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "DE89370400440532013000", "%", "\\", "'",
                     "\u0130", "\u00df", "\ufb01", "\u202e", "\x00", " "]),
)
_values = st.lists(_VALUE_PARTS, max_size=5).map("".join)


@given(st.sampled_from(KINDS), _values)
@example("domain-name", "\u0130.example")
@example("url", "http://[::1")
def test_normalise_gives_a_canonical_value_or_a_located_error(kind: str, value: str) -> None:
    out = result_or_located(lambda: normalise(kind, value))
    if not isinstance(out, InvalidInput):
        assert normalise(kind, out) == out  # canonical forms are fixed points
        assert from_pattern(to_pattern(kind, out)) == [(kind, out)] or kind in ("md5", "sha1", "sha256", "sha512",
                                                                                 "ssdeep", "tlsh")


@given(_values)
def test_detect_and_refang_take_any_text(text: str) -> None:
    hit = detect(text)
    if hit is not None:
        assert normalise(*hit) == hit[1]
    assert isinstance(refang(text), str)


_PATTERN_PARTS = st.one_of(
    st.sampled_from(["[", "]", "(", ")", " OR ", " AND ", " FOLLOWEDBY ", " = ", " != ", " LIKE ", " MATCHES ",
                     " IN ", "'", "\\'", "\\\\", "ipv4-addr:value", "domain-name:value", "url:value",
                     "file:hashes.MD5", "file:hashes.'SHA-256'", "autonomous-system:number", "x-custom:a.b[*].c",
                     "network-traffic:dst_ref.value", "'1.2.3.4'", "'evil.example'", "64500", "t'2026-01-01T00:00:00Z'",
                     " WITHIN 5 SECONDS", " REPEATS 2 TIMES", " START t'2026-01-01T00:00:00Z' STOP t'2026-01-02T00:00:00Z'",
                     "b'AAAA'", "h'00ff'", "NOT ", "EXISTS "]),
    st.text(max_size=8),
)
_patterns = st.lists(_PATTERN_PARTS, max_size=14).map("".join)


@given(_patterns)
@example("")  # regression (found by atheris): the OASIS validator raised UnboundLocalError on it
@example("   ")
@example("[" + "(" * 600 + "ipv4-addr:value = '1.2.3.4'" + ")" * 600 + "]")
@example(" OR ".join(["[ipv4-addr:value = '1.2.3.4']"] * 1200))
def test_patterns_give_observables_or_a_pattern_problem(pattern: str) -> None:
    out = result_or_located(lambda: from_pattern(pattern))
    if isinstance(out, InvalidInput):
        assert out.field == "pattern"
    indicator = {"type": "indicator", "pattern_type": "stix", "pattern": pattern}
    found = observables_of(indicator)  # indexes what normalises, never raises
    assert all(normalise(kind, value) == value for kind, value in found)
    problems = validate_object({**indicator, "spec_version": "2.1", "id": "indicator--2f5e0e7c-8f5c-4f6e-9f1a-3c4b5d6e7f80",
                                "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
                                "valid_from": "2026-01-01T00:00:00Z"})
    assert all(p.field == "pattern" for p in problems)


@given(st.sampled_from(["ipv4-addr", "domain-name", "url"]), _values)
@example("url", "http://evil.example/a?b#c")
@example("url", "http://1.2.3.4/x")
@example("url", "http://01.2.3.4/x")
@example("url", "http://1.2.3/x")
@example("url", "HTTP://evil.example/")
@example("url", "http://Evil.example/")
@example("url", "http://evil.example:80/")
@example("url", "http://u@evil.example/")
@example("url", "http://xn--80ak6aa92e.com/")
@example("url", "http://evil.example/\u00e9 x")
@example("url", "https://" + "a." * 126 + "com/")
@example("domain-name", "xn--80ak6aa92e.com")
@example("domain-name", "a." * 126 + "com")
@example("domain-name", "Evil.example")
@example("domain-name", "evil.example.")
@example("ipv4-addr", "01.2.3.4")
def test_to_pattern_of_a_value_taken_as_is_is_that_of_its_normalised_form(kind: str, value: str) -> None:
    # to_pattern skips normalising values that a cheap check proves canonical: same pattern, same errors
    out = result_or_located(lambda: normalise(kind, value))
    if isinstance(out, InvalidInput):
        got = result_or_located(lambda: to_pattern(kind, value))
        assert isinstance(got, InvalidInput) and got.problems == out.problems
    else:
        assert to_pattern(kind, value) == f"[{kind}:value = '{out.replace(chr(92), chr(92) * 2).replace(chr(39), chr(92) + chr(39))}']"
