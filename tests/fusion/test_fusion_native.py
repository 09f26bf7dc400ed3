"""The C extension of the batch lookup (``fusion/_fastlookup.c``) gives, value for value, what the
Python path gives: the same (kind, value) pairs and the same keyed digests, over the conformance
corpus, the benchmark's generator, every observable kind with near misses (case, blanks, NUL,
defanging, IDNA), and random text (any code point, surrogates included). And a lookup answers and
stores the same with it and without it."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cyberfusion.config import get_settings
from cyberfusion.db import transaction
from cyberfusion.fusion import hits
from cyberfusion.fusion.hits import _canonical, parse_and_digest
from cyberfusion.fusion.models import Lookup
from cyberfusion.kit.observables import KINDS
from fusion.fusion_helpers import give, indicator
from fusion.test_fusion_parse import _corpus, _generated, _variants

native = pytest.importorskip("cyberfusion.fusion._fastlookup", reason="the C extension is not built")

KEY = bytes(range(32))
# One value of every kind kit.observables knows, canonical and not.
EVERY_KIND = [
    "192.0.2.1", "192.0.2.0/24", "2001:db8:1:2:3:4:5:6", "2001:db8::1", "example.com", "bücher.de",
    "xn--bcher-kva.de", "https://example.com/a?b=c", "HTTP://Example.com:80/", "a.b+c@example.co.uk",
    "d41d8cd98f00b204e9800998ecf8427e", "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "cf83e135" * 16,
    "1BoatSLRHtKNngkdXEeobR76b4LUWtpm8x", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge",
    "GB82WEST12345698765432", "+33 1 23 45 67 89", "AS13335", "CVE-2024-0001",
]
_MUTATIONS: tuple[Callable[[str], str], ...] = (
    lambda v: v, str.upper, str.title, lambda v: f" {v}", lambda v: f"{v}\n", lambda v: f"{v}\x00",
    lambda v: f"\x00{v}", lambda v: v.replace(".", "\x00", 1), lambda v: f"{v}\u00a0", lambda v: f"\t{v}\r",
    lambda v: v.replace(".", "[.]"), lambda v: v.replace(".", "(.)", 1), lambda v: v.replace("http", "hxxp"),
    lambda v: v.replace("@", "[at]"), lambda v: v.replace(".", " dot ", 1), lambda v: v.replace("a", "ä", 1),
    lambda v: v.replace("e", "\u0435", 1), lambda v: v.replace("o", "\ud800", 1), lambda v: v + "\udcff",
    lambda v: v.replace("a", "xn--a", 1), lambda v: "xn--" + v, lambda v: v + ".", lambda v: v[:-1],
    lambda v: v[1:], lambda v: v + v, lambda v: v.replace(":", "::", 1), lambda v: v.replace(":", ":0:0:", 1),
    lambda v: v.replace("1", "01", 1), lambda v: v.replace(".", "..", 1), lambda v: v.replace("/", "(", 1),
    lambda v: "-" + v, lambda v: v.replace(".", "-.", 1), lambda v: v.replace("://", "://u@", 1),
    lambda v: v.replace(".com", ".com:443", 1), lambda v: v + "/\u00e9", lambda v: "a" * 64 + "." + v,
    lambda v: v.replace("https", "ftp", 1), lambda v: v.replace("@", "@@", 1), lambda v: v + "@x.com",
)


def _both(values: list, kind: str | None = None) -> None:
    """The native path equals the Python path (pairs and packed digests); and what the C code
    accepts on its own is exactly what ``hits._canonical`` gives (or it accepts nothing)."""
    assert parse_and_digest(values, kind, KEY, native=True) == parse_and_digest(values, kind, KEY, native=False), \
        (values, kind)
    for v in values:
        found = native.classify(v)
        if found is not None:
            assert found == _canonical(v), v
        elif isinstance(v, str) and type(v) is str and (expected := _canonical(v)) is not None:
            # Refused: only the shape the C code leaves to Python (IBAN: stdnum's country formats).
            assert expected[0] == "iban", v


def test_same_on_the_conformance_corpus() -> None:
    corpus = _corpus()
    accepted = sum(native.classify(v) is not None for v in corpus)
    assert accepted > 5_000  # the corpus exercises the C shapes, not only the hand-back
    _both(corpus)


def test_same_with_every_kind_on_a_sample_of_the_corpus() -> None:
    sample = random.Random(7).sample(_corpus(), 1_000)
    for kind in KINDS:
        _both(sample, kind)


def test_same_on_the_benchmark_values_and_their_near_misses() -> None:
    values = _generated(20_000)
    assert sum(native.classify(v) is not None for v in values) > 0.9 * len(values)
    _both(values)
    _both([variant for v in values[:2_000] for variant in _variants(v)])


def test_same_for_every_kind_and_its_mutations() -> None:
    values = [m(v) for v in EVERY_KIND for m in _MUTATIONS]
    _both(values)
    for kind in (*KINDS, "no-such-kind"):
        _both(values, kind)


def test_same_for_values_that_are_not_text_or_not_plain_str() -> None:
    class Text(str):
        pass

    _both([None, 7, 1.5, b"1.2.3.4", ["1.2.3.4"], {"v": 1}, Text("1.2.3.4"), Text("example.com"), "", " "])


def test_every_key_length_gives_hmac_digests() -> None:
    values = ["192.0.2.1", "EXAMPLE.com", "d41d8cd98f00b204e9800998ecf8427E", "not a value"]
    for key in (b"", b"k", bytes(range(64)), bytes(range(65)), b"\xff" * 200):
        assert parse_and_digest(values, None, key, native=True) == parse_and_digest(values, None, key, native=False)


def test_bad_arguments_raise_instead_of_crashing() -> None:
    with pytest.raises(TypeError):
        native.parse_digest(["1.2.3.4"], 5, KEY)
    with pytest.raises(TypeError):
        native.parse_digest(7, None, KEY)
    with pytest.raises(TypeError):
        native.parse_digest(["1.2.3.4"], None, "not bytes")
    assert native.parse_digest([], None, KEY) == ([], bytearray(), [])


_ANY = st.text(st.characters(blacklist_categories=()), max_size=40)  # every code point, surrogates too
_SHAPED = st.builds(lambda v, m: m(v), st.sampled_from(EVERY_KIND + _generated(300)), st.sampled_from(_MUTATIONS))
_ALPHABET = "0123456789abcdefABCDEFxnhtpsmz.:/@-_+[](){}\\ \t\x00?#%é\u0435"


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(_ANY, _SHAPED, st.text(alphabet=_ALPHABET, max_size=60)), max_size=8),
       st.sampled_from((None, *KINDS)))
def test_same_on_random_text(values: list[str], kind: str | None) -> None:
    _both(values, kind)


_label = st.from_regex(r"[a-zA-Z0-9_-]{1,12}", fullmatch=True)
_host = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(_label, min_size=1, max_size=4),
                  st.sampled_from(["com", "net", "co.uk", "de", "xn--p1ai", "c0m", "x", "COM", "a" * 63, "b" * 64]))
_hextet = st.integers(0, 0xFFFF).map(lambda i: f"{i:x}")


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(
    _host,
    st.builds(lambda s, h, rest: f"{s}://{h}{rest}", st.sampled_from(["http", "https", "ftp", "Http", "http:/"]),
              _host, st.text(alphabet="/?#=&%abc.:@()[]\\ ~|{}!'\x7f\x00", max_size=12)),
    st.builds(lambda local, h: f"{local}@{h}", st.from_regex(r"[A-Za-z0-9_+.-]{1,70}", fullmatch=True), _host),
    st.builds(lambda xs: ":".join(xs), st.lists(st.one_of(_hextet, st.just("0"), st.just("00"), st.just("A")),
                                                min_size=7, max_size=9)),
    st.builds(lambda xs: ".".join(map(str, xs)), st.lists(st.integers(0, 300), min_size=3, max_size=5)),
    st.builds(lambda xs: ".".join(xs), st.lists(st.sampled_from(["0", "00", "01", "255", "256", "1000", ""]),
                                                min_size=4, max_size=4)),
    st.builds(lambda n, upper: f"{random.Random(n).getrandbits(4 * n):0{n}x}".upper() if upper else
              f"{random.Random(n).getrandbits(4 * n):0{n}x}", st.sampled_from([31, 32, 33, 40, 64, 128]), st.booleans()),
    st.sampled_from(["0" * 32, "1" * 40, "9" * 64]),
), max_size=8), st.sampled_from((None, *KINDS)))
def test_same_on_random_shapes(values: list[str], kind: str | None) -> None:
    _both(values, kind)


def test_a_lookup_answers_and_stores_the_same_with_and_without_the_extension(world, tmp_path) -> None:
    give(world, tmp_path, "vendor", [indicator("ipv4-addr", "198.51.100.7"), indicator("domain-name", "evil.example.com"),
                                     indicator("md5", "d41d8cd98f00b204e9800998ecf8427e")])
    asked = ["198.51.100.7", "198.51.100[.]7", "EVIL.example.com", "evil.example.com", "D41D8CD98F00B204E9800998ECF8427E",
             "https://evil.example.com/x", "192.0.2.1", "not a value", 7, "bücher.de", "1BoatSLRHtKNngkdXEeobR76b4LUWtpm8x"]
    answers = []
    for use_native in (True, False):
        settings_ = get_settings().model_copy(update={"native": use_native})
        with transaction(world.factory) as s:
            result = hits.lookup(s, viewer=world.viewer("ncb_fr"), purpose="investigation", values=asked,
                                 settings=settings_)
            digests = s.scalars(select(Lookup.digests).where(Lookup.id == result.lookup_id)).one()
        answers.append(([{k: v for k, v in r.items() if k != "references"} for r in result.results],
                        result.counts, digests))
    assert answers[0] == answers[1]
    assert answers[0][1] == {"values": 11, "hit": 5, "no_hit": 3, "invalid": 3}
