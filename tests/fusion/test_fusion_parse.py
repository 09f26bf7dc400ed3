"""The lookup's fast path for values already in canonical form gives, value for value, what the
full parser gives (``hits._parse``): over the conformance corpus, the benchmark's generator,
near misses of every shape, and random text. The batch HMAC gives ``hmac.digest``'s bytes."""

from __future__ import annotations

import hmac
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cyberfusion.fusion.hits import _canonical, _parse, parse_value, value_digest, value_digests
from cyberfusion.kit.observables import KINDS

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance"
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _same(text: object) -> None:
    """parse_value (fast path first) equals the full parser, without a kind and with every kind."""
    assert parse_value(text) == _parse(text), text
    for kind in KINDS:
        try:
            full = _parse(text, kind)
        except Exception as exc:  # noqa: BLE001 - the same error, raised the same way
            with pytest.raises(type(exc)) as raised:
                parse_value(text, kind)
            assert str(raised.value) == str(exc)
            continue
        assert parse_value(text, kind) == full, (text, kind)


def _strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def _corpus() -> list[str]:
    out: set[str] = set()
    for path in sorted((CONFORMANCE / "misp").rglob("*.json")):
        out.update(s for s in _strings(json.loads(path.read_text(encoding="utf-8"))) if len(s) < 300)
    for path in sorted((CONFORMANCE / "ioc-extraction").rglob("*")):
        if path.suffix in (".txt", ".json"):
            text = path.read_text(encoding="utf-8", errors="replace")
            out.update(text.splitlines())
            out.update(text.split())
    return sorted(out)


def test_fast_path_equals_full_parser_on_the_conformance_corpus() -> None:
    corpus = _corpus()
    assert len(corpus) > 10_000
    fast = 0
    for text in corpus:
        fast += _canonical(text) is not None
        assert parse_value(text) == _parse(text), text
    assert fast > 5_000  # the corpus exercises the fast path, not only the fallback


def test_fast_path_equals_full_parser_with_every_kind_on_a_sample_of_the_corpus() -> None:
    corpus = _corpus()
    for text in random.Random(5).sample(corpus, 2_000):
        _same(text)


def _generated(n: int) -> list[str]:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import _common
    finally:
        sys.path.remove(str(BENCHMARKS))
    rng = random.Random(_common.SEED)
    return [_common.observable(rng)[1] for _ in range(n)]


def _variants(value: str) -> list[str]:
    """Near misses of a canonical value: case, blanks, defanging, trailing dot, port, user."""
    out = [value, value.upper(), value.title(), f" {value}", f"{value}\n", f"{value}.", f"{value}\u00a0",
           value.replace(".", "[.]", 1), value.replace("https://", "hxxps://"), value.replace("://", "://u@"),
           value.replace(".com", ".com:443"), value.replace(".com", ".com:80"), value.replace("a", "xn--a", 1),
           value.replace(":", "::", 1), value.replace(":", ":0:0:", 1), value.replace("/", "/(", 1),
           value.replace(".", "..", 1), value.replace("-", "-.", 1), value + "/" + value, value + "@x.com",
           value.replace("@", "@@"), value.replace("1", "01", 1), "0" + value, value[:-1], value[1:]]
    return out


def test_fast_path_equals_full_parser_on_the_benchmark_values_and_their_near_misses() -> None:
    values = _generated(20_000)
    fast = sum(_canonical(v) is not None for v in values)
    assert fast > 0.9 * len(values)  # what the batch benchmark gets from it
    for value in values:
        assert parse_value(value) == _parse(value), value
    for value in values[:3_000]:
        for variant in _variants(value):
            assert parse_value(variant) == _parse(variant), variant
    for value in values[:300]:
        _same(value)


@pytest.mark.parametrize("text", [
    "192.0.2.1", "192.0.2.01", "255.255.255.255", "256.1.1.1", "1.2.3.4/32", "1.2.3",
    "d41d8cd98f00b204e9800998ecf8427e", "D41D8CD98F00B204E9800998ECF8427E", "12345678901234567890123456789012",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709", "abc", "deadbeef",
    "example.com", "Example.com", "example.com.", "-bad.com", "bad-.com", "a_b.example.org", "xn--bcher-kva.de",
    "bücher.de", "localhost", "1.2.3.com", "fxp.example.com", "hxxp.example.com", "a" * 64 + ".com",
    ".".join(["a" * 60] * 5) + ".com", "setup.exe",
    "http://example.com", "https://example.com/", "HTTP://example.com/", "https://Example.com/x",
    "https://example.com:443/", "https://example.com:8443/", "https://user@example.com/", "ftp://example.com/",
    "https://example.com/a b", "https://example.com/a(b)", "https://example.com/x?u=hxxp://y.com",
    "https://example.com/\u00e9", "https://example.com#frag", "https://example.com?q", "http://1.2.3.4/",
    "https://xn--bcher-kva.de/", "hxxps://example[.]com/x",
    "a@example.com", "A.B+c_d-e@example.co.uk", "a..b@example.com", ".a@example.com", "a@b@example.com",
    "a@example.com.", "a/b@example.com", "a@[192.0.2.1]", "\"a b\"@example.com", ("a" * 65) + "@example.com",
    "user[at]example[.]com",
    "2001:db8:1:2:3:4:5:6", "2001:db8:0:2:3:4:5:6", "2001:db8:0:0:3:4:5:6", "2001:0db8:1:2:3:4:5:6",
    "2001:DB8:1:2:3:4:5:6", "2001:db8::1", "::1", "0:0:0:0:0:ffff:c000:201", "2001:db8:1:2:3:4:5:6%eth0",
    "1:2:3:4:5:6:7:0", "0:1:2:3:4:5:6:7", "0:0:1:2:3:4:5:6", "1:2:3:4:5:6:0:0",
    "", " ", "not a value", "CVE-2024-0001", "AS13335", "+33 1 23 45 67 89", "GB82WEST12345698765432",
    "0x52908400098527886E0F7030069857D2E4169EE7", "1BoatSLRHtKNngkdXEeobR76b4LUWtpm8x",
    # base58 and IBAN shapes (fast path when the normaliser accepts them; else the full parser)
    "1BoatSLRHtKNngkdXEeobR76b4LUWtpm8y", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "1boatslrhtknngkdxeeobr76b4luwtpm8x",
    "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", "n" + "1" * 33, "2" + "z" * 30, "1" + "a" * 33, "3" + "1" * 33,
    "1BoatSLRHtKNngkdXEeobR76b4LUWtpm8x.", "1BoatSLRHtKNngkdXEeobR76b4LUWfxp8x", "1BoatSLRHtKNngkdXEeobR76b4LUhxxp8",
    "GB82WEST12345698765432", "GB82WEST12345698765433", "gb82west12345698765432", "GB82 WEST 1234 5698 7654 32",
    "DE89370400440532013000", "FR1420041010050500013M02606", "NL91ABNA0417164300", "AB12CDEF0123456789ABCDEF",
    "BC12WEST12345698765432", "TB12WEST12345698765432", "BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ",
    "GB82FXPT12345698765432", "GB82HXXP12345698765432", "AS12345678901234", "XX00" + "A" * 30, "XX00" + "A" * 31,
])
def test_fast_path_equals_full_parser_on_edge_cases(text: str) -> None:
    _same(text)


def test_non_text_values_are_not_observables() -> None:
    for raw in (None, 7, 1.5, ["1.2.3.4"], {"v": 1}):
        assert parse_value(raw) is None
        assert parse_value(raw, "ipv4-addr") is None


_ALPHABET = "0123456789abcdefABCDEFxnhtpsm.:/@-_+[](){}\\ \t?#%é"


@settings(max_examples=1_500, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=40))
def test_fast_path_equals_full_parser_on_random_text(text: str) -> None:
    assert parse_value(text) == _parse(text)


_label = st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True)
_host = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(_label, min_size=1, max_size=4),
                  st.sampled_from(["com", "net", "co.uk", "de", "xn--p1ai", "c0m", "x"]))
_hextet = st.integers(0, 0xFFFF).map(lambda i: f"{i:x}")


@settings(max_examples=600, deadline=None)  # every kind for each example: phones are slow
@given(st.one_of(
    _host,
    st.builds(lambda s, h, rest: f"{s}://{h}{rest}", st.sampled_from(["http", "https", "ftp", "Http"]), _host,
              st.text(alphabet="/?#=&%abc.:@()[]\\ ~|{}!'", max_size=12)),
    st.builds(lambda local, h: f"{local}@{h}", st.from_regex(r"[A-Za-z0-9_+.-]{1,70}", fullmatch=True), _host),
    st.builds(lambda xs: ":".join(xs), st.lists(st.one_of(_hextet, st.just("0")), min_size=7, max_size=9)),
    st.builds(lambda xs: ".".join(map(str, xs)), st.lists(st.integers(0, 300), min_size=3, max_size=5)),
))
def test_fast_path_equals_full_parser_on_random_shapes(text: str) -> None:
    _same(text)


@pytest.mark.parametrize("key", [b"", b"k", bytes(range(32)), bytes(range(64)), bytes(range(65)), b"\xff" * 200])
def test_batch_digests_are_hmac_sha256_of_each_value(key: bytes) -> None:
    values = ["192.0.2.1", "bücher.de", "not a value", 7, None, "\udcff", "x" * 5000, ""]
    parsed = [parse_value(v) for v in values]
    packed = value_digests(key, parsed, values)
    expected = b"".join(value_digest(key, p[0], p[1]) if p else value_digest(key, None, str(v))
                        for p, v in zip(parsed, values))
    assert packed == expected
    assert packed[:16] == hmac.new(key, b"ipv4-addr:192.0.2.1", "sha256").digest()[:16]
    assert value_digests(key, [], []) == b""
