"""Refanging: defanged indicators back to their real form, prose left alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cyberfusion.kit import refang as refang_module
from cyberfusion.kit.refang import refang

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance"
IOCEXTRACT = CONFORMANCE / "ioc-extraction" / "iocextract"


@pytest.mark.parametrize(("text", "expected"), [
    ("hxxp://example.com", "http://example.com"),
    ("hxxps://example.com", "https://example.com"),
    ("hXXp://example.com", "http://example.com"),
    ("HXXPS://example.com", "https://example.com"),
    ("fxp://files.example.com", "ftp://files.example.com"),
    ("example[.]com", "example.com"),
    ("example(.)com", "example.com"),
    ("example{.}com", "example.com"),
    ("example[dot]com", "example.com"),
    ("example(dot)com", "example.com"),
    ("example[DOT]com", "example.com"),
    ("example [.] com", "example.com"),
    ("example\\.com", "example.com"),
    ("hxxp[:]//example[.]com", "http://example.com"),
    ("hxxps[://]example[.]com/path", "https://example.com/path"),
    ("http://example.com[/]test", "http://example.com/test"),
    ("user[at]example[.]com", "user@example.com"),
    ("user(at)example.com", "user@example.com"),
    ("user[@]example.com", "user@example.com"),
    ("user [at] example [dot] com", "user@example.com"),
    ("192[.]168[.]0[.]1", "192.168.0.1"),
    ("example dot com", "example.com"),
    ("www dot example dot co dot uk", "www.example.co.uk"),
    ("hxxp://evil dot com/x", "http://evil.com/x"),
    ("mail bob@corp dot com today", "mail bob@corp.com today"),
])
def test_refang_undoes_defanging(text: str, expected: str) -> None:
    assert refang(text) == expected


@pytest.mark.parametrize("text", [
    "http://example.com/path?q=1",
    "connect the dot to the line",
    "the dot com bubble",
    "he wrote dot net code",
    "hxxp is how analysts write it",
    "(a) [b] {c} (.",
    "example[.com",
    "example,com",
    "meet at noon",
    "",
])
def test_refang_leaves_prose_and_live_text_alone(text: str) -> None:
    assert refang(text) == text


def test_refang_in_running_text() -> None:
    text = "C2 at hxxp://198[.]51[.]100[.]7:8080/gate and bad[.]example(.)org; mail ops[at]bad[.]example"
    assert refang(text) == (
        "C2 at http://198.51.100.7:8080/gate and bad.example.org; mail ops@bad.example")


def test_refang_iocextract_input() -> None:
    lines = dict.fromkeys((IOCEXTRACT / "input.txt").read_text(encoding="utf-8").splitlines())
    changed = {line: refang(line) for line in lines if refang(line) != line}
    assert changed == {
        "http://192[.]168[.]0[.]1:80/path": "http://192.168.0.1:80/path",
        "192[.]168[.]0[.]1:80/path": "192.168.0.1:80/path",
        "tcp://192[.]168[.]0[.]1:80/path": "tcp://192.168.0.1:80/path",
        "http://example[.]com/": "http://example.com/",
        "http://example(.)com/": "http://example.com/",
        "http://example[.]com/[.]": "http://example.com/.",
        "hxxp://example[.]com/": "http://example.com/",
        "tcp://example[.]com/": "tcp://example.com/",
        "example[.]com/": "example.com/",
        "hxxp://example[dot]com/": "http://example.com/",
        "example[dot]com": "example.com",
        "192[.]168[dot]0[.]1": "192.168.0.1",
        "http://example.com[/]test": "http://example.com/test",
        "hxxp://example.com": "http://example.com",
        "http://example[.]com": "http://example.com",
        "hxxp://example[.]com": "http://example.com",
        "example[.]com": "example.com",
        "http://example[dot]com": "http://example.com",
        "http://192[.]168[.]0[.]1": "http://192.168.0.1",
        "192[.]168[.]0[.]1": "192.168.0.1",
        "short[.]is": "short.is",
        "http://example[.]com/[.].com": "http://example.com/..com",
        "tcp://example[.]com:80/": "tcp://example.com:80/",
        "example[.]com test": "example.com test",
        "192[.]168[.]0[.]1:9090/url": "192.168.0.1:9090/url",
        "192[.]188[dot]0[.]1:9090/url": "192.188.0.1:9090/url",
        "hxxps://example[.]com/": "https://example.com/",
    }


def test_refang_ioc_finder_quoted_urls() -> None:
    data = json.loads((CONFORMANCE / "ioc-extraction" / "ioc-finder" / "find_iocs_cases.json").read_text())
    case = next(c for c in data["cases"]["urls"]
                if c["id"] == "URL boundary w/ single or double quotes handled properly")
    refanged = refang(case["input"])
    assert refanged == ("DownloadString('https://example.com/rdp.ps1');g $I "
                        "DownloadString(\"https://example.com/rdp.ps2\");g $I")
    assert all(url in refanged for url in case["expected"]["urls"])


def _refang_without_shortcuts(text: str) -> str:
    """refang() as it was before its scans were skipped on texts without a marker or "://"."""
    m = refang_module
    text = m._MARKERS.sub(m._marker, text)
    if m._SPACED_DOT_HINT.search(text):
        whole = m._SPACED_DOT.fullmatch(text.strip())
        if whole is not None:
            host = m._as_host(whole[0])
            text = text.replace(whole[0], host) if host else text
        else:
            text = m._SPACED_DOT.sub(m._spaced_dot, text)
    return m._SCHEME.sub(m._scheme, text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["hxxp", "fxp", "s", "://", "[", "]", "(", ")", "{", "}", "\\", ".", "dot",
                                 "at", "@", "/", ":", " ", "\t", "evil", "com", "x", "\u3002"]), max_size=30))
def test_refang_shortcuts_change_nothing(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert refang(text) == _refang_without_shortcuts(text)


# A text whose only markers are plain "[.]" is unmarked by str.replace; a stray bracket, a blank or
# another marker sends it through the pattern. Both give what the pattern alone gives.
@pytest.mark.parametrize(("text", "expected"), [
    ("evil[.]com", "evil.com"),
    ("x[.][.]y.org", "x..y.org"),
    ("hxxp://a[.]b[.]com/x[.]php?q=1", "http://a.b.com/x.php?q=1"),
    ("a[.]]b.com", "a.]b.com"),
    ("[[.]evil.com", "[.evil.com"),
    ("evil[.]com[", "evil.com["),
    ("evil[.]com/a(b)", "evil.com/a(b)"),
    ("evil [.] com", "evil.com"),
    ("evil[.]com\\.net", "evil.com.net"),
])
def test_plain_bracket_dots_exactly(text: str, expected: str) -> None:
    assert refang(text) == expected
    assert refang_module._MARKERS.sub(refang_module._marker, text).replace("hxxp", "http") == expected
