"""The suffix trie walk gives tldextract's answer for every name the vocabulary can hand it.

``_split_suffix`` takes canonical host names (lower-case A-labels, no trailing dot), so the
names below are generated in that form from every ICANN rule of the bundled snapshot: the
rule itself, one and two labels under it, wildcard rules with a label in place of "*",
exception rules with and without their "!", and the IDNA (A-label) spelling of Unicode rules,
valid and broken.
"""

from __future__ import annotations

import idna
import pytest
import tldextract

from cyberfusion.kit import observables


def _reference(host: str) -> tuple[str, str]:
    parts = _TLDEXTRACT(host)
    return parts.top_domain_under_public_suffix, parts.suffix


_TLDEXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _ascii(name: str) -> str | None:
    if name.isascii():
        return name
    try:
        return ".".join(idna.encode(label).decode("ascii") if not label.isascii() else label
                        for label in name.split("."))
    except idna.IDNAError:
        return None


def _names() -> list[str]:
    names: set[str] = set()
    for n, rule in enumerate(sorted(observables._extractor().tlds)):
        bases = [rule]
        if rule.startswith("*."):
            bases = [f"{label}.{rule[2:]}" for label in ("city", "www", "a-b", "x1")] + [rule[2:]]
        elif rule.startswith("!"):
            bases = [rule[1:], "www." + rule[1:].split(".", 1)[1]]
        for base in bases:
            host = _ascii(base)
            if host is None:
                continue
            names.update((host, f"evil.{host}", f"a.b-c.{host}"))
            if n % 16 == 0:  # a punycode label under the rule (each one costs an IDNA decode)
                names.add(f"xn--p1ai.{host}")
    names.update((
        "localhost", "setup.exe", "host.invalid-tld", "a.b.c.d", "xn--zz.com", "xn--.xn--p1ai",
        "evil.xn--zz", "www.ck", "foo.ck", "ck", "a.www.ck", "city.kawasaki.jp", "x.city.kawasaki.jp",
        "kawasaki.jp", "a.b.kawasaki.jp", "github.io", "foo.github.io", "xn--e1afmkfd.xn--p1ai",
        "_dmarc.example.com", "a_b.co.uk", "co.uk", "uk", "com",
    ))
    return sorted(names)


NAMES = _names()


def test_the_generated_list_covers_every_kind_of_rule() -> None:
    assert len(NAMES) > 20_000
    assert any(name.startswith("xn--") for name in NAMES)


def test_trie_walk_equals_tldextract_for_every_generated_name() -> None:
    observables._split_suffix.cache_clear()
    mismatches = [(name, ours, theirs) for name in NAMES
                  if (ours := observables._split_suffix(name)) != (theirs := _reference(name))]
    assert mismatches == []


@pytest.mark.parametrize(("host", "expected"), [
    ("www.bbc.co.uk", ("bbc.co.uk", "co.uk")),
    ("foo.ck", ("", "foo.ck")),               # *.ck: any label is part of the suffix
    ("a.foo.ck", ("a.foo.ck", "foo.ck")),
    ("www.ck", ("www.ck", "ck")),              # !www.ck: the exception is registrable
    ("a.www.ck", ("www.ck", "ck")),
    ("ck", ("", "")),                          # only "*.ck" is a rule, not "ck"
    ("x.city.kobe.jp", ("city.kobe.jp", "kobe.jp")),
    ("x.y.kobe.jp", ("x.y.kobe.jp", "y.kobe.jp")),
    ("foo.github.io", ("github.io", "io")),     # private rules are not used
    ("xn--e1afmkfd.xn--p1ai", ("xn--e1afmkfd.xn--p1ai", "xn--p1ai")),  # .рф through its A-label
    ("evil.xn--zz", ("", "")),                 # broken punycode matches no rule
    ("setup.exe", ("", "")),
    ("co.uk", ("", "co.uk")),
])
def test_exact_splits(host: str, expected: tuple[str, str]) -> None:
    assert observables._split_suffix(host) == expected == _reference(host)


def test_registered_domain_of_a_canonical_name_equals_registered_domain() -> None:
    # Every generated name, and each as normalise hands it on (domain, URL host, e-mail domain).
    canonical = [observables.normalise("domain-name", name) for name in NAMES if "." in name
                 and observables._hostname(name, True) is not None]
    hosts = [observables.normalise("url", f"http://{name}/").split("/")[2] for name in NAMES[::7]]
    mails = [observables.normalise("email-addr", f"a@{name}").split("@")[1] for name in canonical[::7]]
    names = canonical + hosts + mails
    assert len(names) > 20_000
    assert [observables.registered_domain_of_name(n) for n in names] == \
        [observables.registered_domain(n) for n in names]


def test_trie_is_built_once() -> None:
    assert observables._suffix_trie() is observables._suffix_trie()
