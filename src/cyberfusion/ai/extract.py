"""Indicator extraction from unstructured text: suggested observables with position, confidence, reason.

The scanner is hand-written on precompiled regular expressions rather than built on a
parser-combinator library or a tokenizer pipeline: a handful of linear passes over the
text (possessive quantifiers, so no backtracking inside words) is what keeps extraction
above several MB/s on one core, and every candidate is then judged by the platform's one
vocabulary (``kit.refang`` then ``kit.observables.normalise``), so what the extractor
suggests is exactly what ingest would accept.

Each pass matches the *original* text, defanged forms included, so positions point into
the source; only the matched piece is refanged. Ambiguity is settled by context: the
nearest keyword before a 40-hex string ("wallet" or "sha1"), "version" before a dotted
quad, a file extension as the last label of a name, documentation-only names and ranges.
What is rejected is reported with its reason too.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from cyberfusion.errors import InvalidInput
from cyberfusion.kit.observables import KINDS, normalise, registered_domain, registered_domain_of_name
from cyberfusion.kit.refang import refang

MODEL_ID = "cfc-extract"
VERSION = "1.0.0"
DEFAULT_MIN_CONFIDENCE = 0.5

# --- the passes ----------------------------------------------------------------------------
# Python's regex engine is fast when a pattern starts with a rare character or a literal and
# slow when it may start anywhere; so the text is scanned for rare *anchors* (".", "[", "@",
# ":", "://", "+") and the full patterns only run inside the whitespace-delimited token
# around each anchor. Boundaries are checked in code rather than with look-behinds, which
# would switch the engine's fast prefix search off.

# A dot as written in reports: plain, escaped, or defanged in brackets ("[.]", "(dot)", " [.] ").
_D = r"(?:\.|\\\.|[ \t]?[\[\(\{][ \t]?(?:\.|[dD][oO][tT])[ \t]?[\]\)\}][ \t]?)"
_LABEL = r"\w[\w-]*+"
_URL_CHARS = r"[^\s<>\"'`{}|\\^]"
_SCHEME = r"\b(?:[hH][tTxX]{2}[pP][sS]?|[fF][tTxX][pP][sS]?|sftp|tcp|udp|wss?|ssh|telnet|ldaps?|smb|rtsp|ircs?)"
# The look-ahead holds the first letters of the schemes: other positions fail on one class test.
_URL = re.compile(rf"(?=[hHfFstuwlri]){_SCHEME}(?:://|\[://\]|\[:\]//){_URL_CHARS}++")
_DOTTED = re.compile(
    rf"(?<![\w.@/\\%-])(?P<host>{_LABEL}(?:{_D}{_LABEL})++)"
    rf"(?P<port>:[0-9]{{1,5}}(?![\w.]))?(?P<path>/{_URL_CHARS}*+)?")
# The same pattern for a token in ASCII: its "\w" is a table test instead of a Unicode category
# lookup. The token holds no blank but space and tab (it ends at any "\s"), and the look-behind
# sees the blank before it, so "\s" (which lacks \x1c-\x1f here) and "\w" judge alike.
_DOTTED_ASCII = re.compile(_DOTTED.pattern, re.ASCII)
_AT = re.compile(r"@|[ \t]?[\[\(\{](?:[aA][tT]|@)[\]\)\}][ \t]?")
_AT_MARKER = re.compile(r"[\[\(\{](?:[aA][tT]|@)[\]\)\}]")
_LOCAL = re.compile(r"(?:[\w.+'-]|\[\.\]){1,64}\Z")
_MAIL_DOMAIN = re.compile(rf"{_LABEL}(?:{_D}{_LABEL})++|\[[0-9.]{{7,15}}\]")
_IPV6 = re.compile(
    r"(?<![\w:.-])(?:[0-9A-Fa-f]{0,4}+:){2,7}+(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{1,4}+)?(?![\w:])")
# refang() is the identity on a piece without any of these (markers, hxxp/fxp, spaced " dot ").
_DEFANG_HINT = re.compile(r"[\[({\\xX \t]")
_TOKEN_END = re.compile(r"\S*")
_BARE_MARKER = re.compile(r"[\[\(\{](?:\.|[dD][oO][tT]|[aA][tT]|@)[\]\)\}]")
# Whole-text scans for shapes made of ASCII classes run on one byte per character: the text
# encoded to ASCII with "?" for every other character (so positions are kept), then mapped by a
# 256-byte table so that what a scan looks for becomes a fixed needle that bytes.find skips to
# in C. The regular expressions stepped through every character (the anchor and long-run scans
# were 2.0 and 3.1 M instructions per benchmark pass, 11 % of all; cachegrind); a map costs one
# C pass.
def _byte_map(classes: dict[int, str], default: int) -> bytes:
    """A bytes.translate table: every character of ``classes[value]`` maps to ``value``, every
    other byte to ``default``."""
    table = bytearray([default] * 256)
    for value, members in classes.items():
        for ch in members:
            table[ord(ch)] = value
    return bytes(table)


_DIGITS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ALNUM = _DIGITS + _UPPER + _UPPER.lower()
# Only anchors that can start or join an indicator: a dot before a word character, an opening
# bracket of a defang marker before ".", "d", "@", "a", ":" or "/", a backslash, "@" (the last
# character of a text too), and a colon before "/", ":" or a hex digit. Found by a byte search
# for the anchor characters ("!" below), then judged by the two bytes there.
_ANCHOR_PAIRS = frozenset(
    [bytes([ord(c), f]) for c in "." for f in (_ALNUM + "_").encode()]
    + [bytes([ord(c), f]) for c in "[({" for f in b".dD@aA:/"]
    + [bytes([ord(c), f]) for c in "\\@" for f in range(256)] + [b"\\", b"@"]
    + [bytes([ord(c), f]) for c in ":" for f in ("/:" + _DIGITS + "abcdefABCDEF").encode()])
# Anchor characters to "!"; tokens are delimited on the left by a space, newline or tab (" ").
_MARKS = _byte_map({ord("!"): ".[({\\@:", 0x20: " \n\t"}, default=ord("x"))
# Runs of 25 or more ASCII letters and digits are the long-token candidates; longer than 140
# are not candidates.
_RUN_MAP = _byte_map({ord("a"): _ALNUM}, default=0x20)
_RUN = b"a" * 25
_LONGEST = 140
# An IBAN opens with two capitals and two digits.
_IBAN_MAP = _byte_map({ord("A"): _UPPER, ord("0"): _DIGITS}, default=0x20)
_IBAN_OPENING = b"AA00"
# CVE and ASN run on the lower-cased bytes, where a literal prefix lets the engine search fast.
# No character outside ASCII lower-cases to c, v, e, a, s or n (only U+212A does to ASCII: k),
# so these match where the case-insensitive patterns match the text. The bytes "\s" lacks
# \x1c-\x1f, and a "?" may stand for a blank outside ASCII: the text decides (see cves).
_CVE = re.compile(rb"cve[-\s\x1c-\x1f?][0-9]{4}-[0-9]{4,7}")
_ASN = re.compile(rb"asn? ?([0-9]{1,10})")
_PHONE_START = re.compile(r"\+[0-9]")
_PHONE = re.compile(r"\+[0-9]{1,3}[0-9 ().-]{5,20}[0-9]")
_IBAN_START = re.compile(r"[A-Z][A-Z][0-9][0-9] ?[A-Z0-9]{4}")
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}+(?: ?[A-Z0-9]{1,4})?")
_CIDR_PATH = re.compile(r"/[0-9]{1,3}")
_IPV4_PREFIX = re.compile(r"/[0-9]{1,2}")
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

# --- context -------------------------------------------------------------------------------

_WINDOW = 80


def _with_bytes(words: Any) -> Any:
    """The keywords as str and, for those in ASCII, as bytes too: the context words of a window
    without characters outside ASCII are read from the text's bytes (see _Scan.words)."""
    if isinstance(words, dict):
        return {**words, **{k.encode(): v for k, v in words.items() if k.isascii()}}
    return frozenset(words) | {w.encode() for w in words if w.isascii()}


# Keyword -> what a hex string right after it is; the nearest keyword before the string wins.
_HEX_KEYWORDS = _with_bytes({
    "wallet": "wallet", "ethereum": "wallet", "eth": "wallet", "ether": "wallet", "metamask": "wallet",
    "erc20": "wallet", "erc-20": "wallet", "usdt": "wallet",
    "sha1": "sha1", "sha-1": "sha1", "md5": "md5", "imphash": "md5", "sha256": "sha256", "sha-256": "sha256",
    "sha512": "sha512", "sha-512": "sha512", "hash": "hash", "hashes": "hash",
    "commit": "commit", "git": "commit", "txid": "tx", "tx": "tx", "transaction": "tx",
    "guid": "ident", "uuid": "ident", "session": "ident", "token": "ident", "key": "ident", "apikey": "ident",
    "secret": "ident", "nonce": "ident", "cookie": "ident", "serial": "ident", "thumbprint": "ident",
})
_NOT_A_HASH = {"commit": "a source-code commit id, not a file hash",
               "tx": "a blockchain transaction id, not a file hash",
               "ident": "an identifier or key (GUID, token, serial), not a file hash"}
_WORDS = re.compile(r"[\w&§-]+")
# The same words of an ASCII window in one bytes translate and split: letters lower-cased, every
# character _WORDS does not take made a blank (the regular expression's per-character Unicode
# class test made the context words cost about 20,000 instructions a call; cachegrind).
_WORD_BYTES = bytes(ord(ch.lower()) if re.fullmatch(r"[\w&-]", ch) else 0x20 for ch in map(chr, range(128))) \
    + b" " * 128
_VERSION_WORDS = _with_bytes({
    "v", "ver", "version", "versions", "build", "release", "rel", "firmware", "fw", "patch", "revision", "rev",
    "section", "sections", "chapter", "clause", "article", "§", "oid", "snmp", "versión", "versiones",
    "versão", "versões", "versao", "versione", "sección", "seção", "secção", "paragraph", "tag"})
_VERSION_AFTER = frozenset({"build", "release", "version", "firmware"})  # see version_word_after
_VERSION_RANGE = re.compile(r"([0-9]+(?:\.[0-9]+){2,})\s*(?:,|to|and|or|through|-|y|e|et|a|até|hasta)\s*\Z",
                            re.IGNORECASE)
_DOMAIN_WORDS = _with_bytes({
    "c2", "c&c", "domain", "domains", "hostname", "hostnames", "host", "hosts", "resolves", "resolved",
    "resolving", "dns", "beacon", "beacons", "beaconing", "callback", "phishing", "landing", "contacts",
    "contact", "connects", "connect", "registered", "lookalike", "typosquat", "typosquatting", "server",
    "servers", "site", "sites", "website", "infrastructure", "redirects", "redirect", "hosted"})

# Names and ranges reserved for documentation and examples (RFC 2606, 6761, 5737, 3849).
_RESERVED_TLDS = frozenset({"example", "test", "invalid", "localhost", "local"})
_RESERVED_DOMAINS = frozenset({"example.com", "example.net", "example.org"})
_DOC_NETS = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))
# Last labels that are common file extensions as well as top-level domains.
_FILE_EXTENSIONS = frozenset({
    "zip", "mov", "sh", "py", "pl", "ps", "md", "rs", "so", "cc", "app", "ai", "pm", "tk", "cs", "js",
    "mp", "rar", "gz", "bin", "dat", "doc", "pdf", "exe", "dll", "bat", "cmd", "vbs", "lnk", "iso", "img",
    "jar", "apk", "php", "asp", "aspx", "jsp", "html", "htm", "txt", "log", "cfg", "ini", "tmp", "xml",
    "json", "csv", "docx", "xlsx", "pptx", "docm", "xlsm", "hta", "msi", "scr", "ps1", "psm1", "zst"})
# Widely used services that reports mention as infrastructure abused or as a connectivity
# check; kept below the default threshold so a person decides.
_WELL_KNOWN = frozenset({
    "google.com", "www.google.com", "microsoft.com", "www.microsoft.com", "apple.com", "amazon.com",
    "github.com", "raw.githubusercontent.com", "dropbox.com", "drive.google.com", "docs.google.com",
    "onedrive.live.com", "live.com", "outlook.com", "office.com", "facebook.com", "twitter.com",
    "x.com", "youtube.com", "wikipedia.org", "en.wikipedia.org", "cloudflare.com", "telegram.org",
    "t.me", "discord.com", "pastebin.com", "windowsupdate.com", "mozilla.org", "bing.com", "yahoo.com",
    "gmail.com", "icloud.com", "linkedin.com", "virustotal.com", "mitre.org", "attack.mitre.org"})
_URL_TRAILING = ".,;:!?'\""
_BRACKETS = {")": "(", "]": "[", "}": "{"}


# Named tuples rather than frozen dataclasses: as immutable, and four times cheaper to create,
# which counts at one per candidate.
class Found(NamedTuple):
    kind: str
    value: str
    start: int
    end: int
    raw: str
    confidence: float
    reason: str


# One per candidate: tuple.__new__ with all fields builds the named tuple without the Python-level
# __new__ that the class call runs (3,600 -> about 1,000 instructions; cachegrind).
_new = tuple.__new__


class Skipped(NamedTuple):
    raw: str
    start: int
    end: int
    reason: str
    kind: str | None = None
    confidence: float | None = None


@dataclass
class Extraction:
    """What one text yielded: suggestions (at or above the threshold) and what was set aside."""

    text: str
    found: list[Found] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def values(self) -> set[tuple[str, str]]:
        return {(f.kind, f.value) for f in self.found}

    def _line_of(self) -> Any:
        newlines = [m.start() for m in re.finditer("\n", self.text)]
        return lambda pos: bisect.bisect_right(newlines, pos - 1) + 1

    def by_kind(self) -> dict[str, list[dict[str, Any]]]:
        """One list per observable kind (every kind present), one entry per distinct value."""
        line_of = self._line_of()
        out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
        index: dict[tuple[str, str], dict[str, Any]] = {}
        for f in sorted(self.found, key=lambda f: f.start):
            pos = {"start": f.start, "end": f.end, "line": line_of(f.start), "raw": f.raw}
            entry = index.get((f.kind, f.value))
            if entry is None:
                entry = index[(f.kind, f.value)] = {"value": f.value, "confidence": f.confidence,
                                                    "reason": f.reason, "positions": []}
                out[f.kind].append(entry)
            elif f.confidence > entry["confidence"]:
                entry["confidence"], entry["reason"] = f.confidence, f.reason
            entry["positions"].append(pos)
        return out

    def skipped_dicts(self) -> list[dict[str, Any]]:
        line_of = self._line_of()
        return [{"raw": s.raw, "start": s.start, "end": s.end, "line": line_of(s.start), "reason": s.reason,
                 **({"kind": s.kind, "confidence": s.confidence} if s.kind else {})}
                for s in sorted(self.skipped, key=lambda s: s.start)]


class _Scan:
    """One run over one text; claimed spans keep later passes from reporting pieces of earlier finds."""

    def __init__(self, text: str, keep_reserved: bool, min_confidence: float) -> None:
        self.text = text
        self.keep_reserved = keep_reserved
        self.min_confidence = min_confidence
        self.claimed = bytearray(len(text))
        self.last_version_end = -1
        self.result = Extraction(text)
        # One byte per character ("?" for those outside ASCII), for the byte-mapped scans.
        self.ascii = text.encode("ascii", "replace")
        self.folded = self.ascii.lower()

    def free(self, start: int, end: int) -> bool:
        return self.claimed.find(1, start, end) < 0

    def claim(self, start: int, end: int) -> None:
        self.claimed[start:end] = b"\x01" * (end - start)

    def add(self, kind: str, value: str, start: int, end: int, confidence: float, reason: str) -> None:
        raw = self.text[start:end]
        self.claimed[start:end] = b"\x01" * (end - start)  # self.claim, inlined: once per candidate
        if confidence < self.min_confidence:
            self.result.skipped.append(
                _new(Skipped, (raw, start, end, f"below the threshold: {reason}", kind, confidence)))
        else:
            self.result.found.append(_new(Found, (kind, value, start, end, raw, confidence, reason)))

    def skip(self, start: int, end: int, reason: str, *, claim: bool = True) -> None:
        if claim:
            self.claim(start, end)
        self.result.skipped.append(_new(Skipped, (self.text[start:end], start, end, reason, None, None)))

    def before(self, start: int) -> str:
        return self.text[max(0, start - _WINDOW):start]

    def words(self, start: int, width: int) -> list[str] | list[bytes]:
        """The lower-cased words in the ``width`` characters before ``start``, as _WORDS finds them;
        bytes when the window holds no "?" (so no character outside ASCII either)."""
        lo = max(0, start - width)
        window = self.ascii[lo:start]
        if b"?" in window:
            return _WORDS.findall(self.text[lo:start].lower())
        return window.translate(_WORD_BYTES).split()

    def words_before(self, start: int, count: int) -> list[str] | list[bytes]:
        return self.words(start, 40)[-count:]

    def version_word_after(self, end: int) -> bool:
        # Every word of _VERSION_AFTER opens with b, r, v or f: other words are not matched.
        if end + 1 >= len(self.text) or self.folded[end + 1] not in b"brvf":
            return False
        after = _WORDS.match(self.text, end + 1)
        return after is not None and after.group().lower() in _VERSION_AFTER

    def version_chained(self, start: int) -> bool:
        """The next number of a list or range whose previous number was a version ("1.2.3 to 1.2.4")."""
        if self.last_version_end < start - _WINDOW:
            return False  # no version close enough before: spare the search
        before = self.before(start)
        chained = _VERSION_RANGE.search(before)
        return chained is not None and start - len(before) + chained.end(1) == self.last_version_end

    def hex_context(self, start: int) -> str | None:
        words = self.words(start, _WINDOW)
        for word in reversed(words):
            if word in _HEX_KEYWORDS:
                return _HEX_KEYWORDS[word]
        return None

    # --- helpers judging one candidate -----------------------------------------------------

    def reserved_host(self, host: str) -> bool:
        return False if self.keep_reserved else _reserved_host(host)

    def ip_verdict(self, value: str) -> tuple[float, str] | str:
        """(confidence, reason) for an address worth suggesting, or the reason it is not."""
        return _ip_verdict(value, self.keep_reserved)

    # --- passes ------------------------------------------------------------------------------

    def tokens(self) -> None:
        """Judge each whitespace-delimited token that holds an anchor character, once."""
        text = self.text
        ascii = self.ascii
        marks = ascii.translate(_MARKS)
        find = marks.find
        p = find(b"!")
        while p >= 0:
            if ascii[p:p + 2] not in _ANCHOR_PAIRS:
                p = find(b"!", p + 1)
                continue
            left = marks.rfind(b" ", max(0, p - 300), p) + 1
            right = _TOKEN_END.match(text, p).end()
            if 3 <= right - left <= 5:  # a bare marker is 3 to 5 characters ("[.]" to "[dot]")
                left, right = self.spaced(left, right)
            self.token(left, right)
            # The next anchor after this token: the other anchors inside it (a token of a URL
            # holds several) are skipped by the search.
            p = find(b"!", right)

    def spaced(self, left: int, right: int) -> tuple[int, int]:
        """Join "evil [.] com" and "a [at] b [.] c": a bare marker token takes its neighbours."""
        text = self.text
        if not _BARE_MARKER.fullmatch(text, left, right):
            return left, right
        if left >= 2 and text[left - 1] in " \t":
            lo = max(0, left - 300)
            left = max(text.rfind(" ", lo, left - 1), text.rfind("\n", lo, left - 1),
                       text.rfind("\t", lo, left - 1)) + 1
        last_marker = True
        while right + 1 < len(text) and text[right] in " \t":
            nxt_end = _TOKEN_END.match(text, right + 1).end()
            is_marker = bool(_BARE_MARKER.fullmatch(text, right + 1, nxt_end))
            if nxt_end == right + 1 or not (last_marker or is_marker):
                break
            right, last_marker = nxt_end, is_marker
        return left, right

    def token(self, left: int, right: int) -> None:
        text = self.text
        piece = text[left:right]
        if "//" in piece or "[:" in piece:
            for m in _URL.finditer(text, left, right):
                raw = _trim_url(m.group())
                self.url(m.start(), m.start() + len(raw), raw, assumed_scheme=False)
            if self.claimed.find(0, left, right) < 0:
                return  # the URL took the whole token: nothing left for the other passes
        if "@" in piece or (("[" in piece or "(" in piece or "{" in piece) and _AT_MARKER.search(piece)):
            self.emails(left, right)
        if piece.count(":") >= 2:
            self.ipv6(left, right)
        self.dotted(left, right, _DOTTED_ASCII if piece.isascii() else _DOTTED)

    def url(self, start: int, end: int, raw: str, *, assumed_scheme: bool) -> bool:
        live = refang(raw) if _DEFANG_HINT.search(raw) else raw
        while live and (live[-1] in _URL_TRAILING or live[-1] in "[({"):
            live = live[:-1]
        if assumed_scheme:
            live = "http://" + live
        try:
            value = normalise("url", live)
        except InvalidInput as exc:
            self.skip(start, end, f"not a valid URL ({exc.problems[0].reason})", claim=False)
            return False
        host = value.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2]
        host = host[:host.find("]") + 1] if host.startswith("[") else host.split(":")[0]
        if self.reserved_host(host):
            self.skip(start, end, "URL on a documentation-only host (example.com, RFC 5737 ranges)")
            return True
        address = _address(host.strip("[]"))
        # Not canonical: cut from the URL at the first "/", so it may hold "?" or "#".
        if address is None and registered_domain(host) is None:
            self.skip(start, end, "URL host is not under a public suffix")
            return True
        defanged = live.removeprefix("http://") != raw if assumed_scheme else live != raw
        confidence, reason = (0.95, "defanged URL") if defanged else (0.9, "URL")
        if assumed_scheme:
            confidence, reason = confidence - 0.1, reason + " written without a scheme (http:// assumed)"
        if address is not None and address.is_private and not self.keep_reserved:
            confidence, reason = 0.5, reason + " on a private address"
        self.add("url", value, start, end, confidence, reason)
        return True

    def emails(self, left: int, right: int) -> None:
        text = self.text
        for m in _AT.finditer(text, left, right):
            at_start, at_end = m.span()
            local = _LOCAL.search(text, max(left, at_start - 64), at_start)
            domain_m = _MAIL_DOMAIN.match(text, at_end, right)
            if local is None or domain_m is None:
                continue
            start = local.start()
            while start < at_start and text[start] in ".'":
                start += 1
            end = domain_m.end()
            if not self.free(start, end):
                continue
            raw = text[start:end]
            try:
                value = normalise("email-addr", refang(raw) if _DEFANG_HINT.search(raw) else raw)
            except InvalidInput:
                continue
            domain = value.rpartition("@")[2]
            if self.reserved_host(domain):
                self.skip(start, end, "e-mail address on a documentation-only domain")
                continue
            if not domain.startswith("[") and registered_domain_of_name(domain) is None:
                continue
            self.add("email-addr", value, start, end, 0.95 if value != raw else 0.9,
                     "defanged e-mail address" if value != raw else "e-mail address")

    def ipv6(self, left: int, right: int) -> None:
        for m in _IPV6.finditer(self.text, left, right):
            raw = m.group()
            if raw.count(":") < 2 or ("::" not in raw and raw.count(":") != 7 and "." not in raw):
                continue
            if not self.free(*m.span()):
                continue
            try:
                value = normalise("ipv6-addr", raw)
            except InvalidInput:
                continue
            verdict = self.ip_verdict(value)
            if isinstance(verdict, str):
                self.skip(*m.span(), verdict)
            else:
                self.add("ipv6-addr", value, *m.span(), *verdict)

    def dotted(self, left: int, right: int, pattern: re.Pattern[str]) -> None:
        text = self.text
        claimed = self.claimed
        for m in pattern.finditer(text, left, right):
            start, end = m.span()
            if claimed.find(1, start, end) >= 0:  # self.free, inlined: once per candidate
                continue
            host_raw = m["host"]
            host_end = m.end("host")
            host = refang(host_raw) if _DEFANG_HINT.search(host_raw) else host_raw
            if host.endswith("."):
                host = host.rstrip(".")
            defanged = host != host_raw
            path = m["path"]
            numeric = host.replace(".", "").isdigit()  # dotted digits: an IPv4 address or range
            if path is not None and not (numeric and _CIDR_PATH.fullmatch(path)):
                raw = _trim_url(text[start:end])
                if self.url(start, start + len(raw), raw, assumed_scheme=True):
                    continue
            if numeric:
                self.numeric(start, host_end, host, defanged, path)
            else:
                self.domain(start, host_end, host, host_raw, defanged)

    def numeric(self, start: int, end: int, host: str, defanged: bool, path: str | None) -> None:
        parts = host.split(".")
        if len(parts) != 4:
            return
        cidr = path if path and _IPV4_PREFIX.fullmatch(path) else ""
        try:
            value = normalise("ipv4-addr", host + cidr)
        except InvalidInput:
            return
        if not defanged and (_VERSION_WORDS.intersection(self.words_before(start, 3))
                             or self.version_word_after(end) or self.version_chained(start)):
            self.last_version_end = end
            self.skip(start, end, "a version or section number (context before it), not an address")
            return
        verdict = self.ip_verdict(value)
        if isinstance(verdict, str):
            self.skip(start, end + len(cidr), verdict)
            return
        confidence, reason = verdict
        if defanged:
            confidence, reason = max(confidence, 0.95 if confidence >= 0.9 else confidence), "defanged " + reason
        self.add("ipv4-addr", value, start, end + len(cidr), confidence,
                 reason + (" range" if cidr else ""))

    def domain(self, start: int, end: int, host: str, host_raw: str, defanged: bool) -> None:
        labels = host.split(".")
        last = labels[-1]
        if not defanged and host != host.lower() and host != host.upper() and last != last.lower():
            return  # a code identifier such as System.IO or Microsoft.Win32
        try:
            value = normalise("domain-name", host)
        except InvalidInput:
            return
        if registered_domain_of_name(value) is None:
            return
        if self.reserved_host(value):
            self.skip(start, end, "documentation-only domain name (RFC 2606/6761)")
            return
        if defanged:
            self.add("domain-name", value, start, end, 0.95, "defanged domain name")
            return
        context = bool(_DOMAIN_WORDS.intersection(self.words_before(start, 4)))
        if value.rsplit(".", 1)[-1] in _FILE_EXTENSIONS and not context:
            self.skip(start, end, f"a file name: .{last.lower()} is a file extension as well as a top-level domain")
            return
        if value in _WELL_KNOWN:
            self.add("domain-name", value, start, end, 0.4, "a widely used legitimate service")
            return
        if context:
            self.add("domain-name", value, start, end, 0.85, "domain name with infrastructure context before it")
        else:
            self.add("domain-name", value, start, end, 0.75, "domain name under a public suffix")

    def long_tokens(self) -> None:
        text = self.text
        runs = self.ascii.translate(_RUN_MAP)
        find = runs.find
        start = find(_RUN)
        while start >= 0:
            end = find(b" ", start)
            if end < 0:
                end = len(runs)
            if end - start <= _LONGEST:
                self.long_token(text, start, end)
            start = find(_RUN, end)

    def long_token(self, text: str, start: int, end: int) -> None:
        """Judge one maximal run of 25 to 140 ASCII letters and digits."""
        if (start and (text[start - 1] in _WORD or text[start - 1] in "$+/=.-" or text[start - 1].isalnum())) \
                or (end < len(text) and (text[end] in _WORD or text[end] in "$+/=" or text[end].isalnum())):
            return
        if not self.free(start, end):
            return
        token = text[start:end]
        if _HEXISH.fullmatch(token):
            self.hexadecimal(start, end, token)
        elif token.startswith("0x") and len(token) == 42:
            self.wallet("eth", token, start, end)
        elif token[:3].lower() in ("bc1", "tb1"):
            self.wallet("btc", token, start, end)
        elif len(token) <= 35 and token[0] in "13mn2":
            self.wallet("btc", token, start, end, quiet=True)
        elif len(token) in (95, 106) and token[0] in "48":
            self.wallet("xmr", token, start, end)

    def wallet(self, kind: str, token: str, start: int, end: int, *, quiet: bool = False) -> None:
        try:
            value = normalise(kind, token)
        except InvalidInput as exc:
            if not quiet:
                self.skip(start, end, f"shaped like a {kind} address but {exc.problems[0].reason}", claim=False)
            return
        self.add(kind, value, start, end, 0.97, f"{kind} address with a valid checksum")

    def hexadecimal(self, start: int, end: int, token: str) -> None:
        kind = _HASH_BY_LENGTH.get(len(token))
        if kind is None:
            if len(token) >= 32:
                self.skip(start, end, f"{len(token)} hex digits: no hash algorithm has that length")
            return
        if token.isdigit():
            self.skip(start, end, "a number of hash length, not a hash")
            return
        nearest = self.hex_context(start)
        if nearest in _NOT_A_HASH:
            self.skip(start, end, _NOT_A_HASH[nearest])
            return
        if len(token) == 40 and nearest == "wallet":
            try:
                value = normalise("eth", "0x" + token)
            except InvalidInput:
                self.skip(start, end, "40 hex digits after 'wallet' but not a valid Ethereum address")
                return
            self.add("eth", value, start, end, 0.85,
                     "40 hex digits after a wallet keyword: an Ethereum address written without 0x")
            return
        if nearest == kind or (nearest == "hash" and kind != "sha1"):
            self.add(kind, token.lower(), start, end, 0.95, f"{len(token)} hex digits named as {kind} before it")
        elif kind == "sha1":
            confidence = 0.9 if nearest in ("sha1", "hash") else 0.7
            self.add(kind, token.lower(), start, end, confidence,
                     "40 hex digits" + (" named as a hash before it" if confidence > 0.7
                                        else ": SHA-1 by length (no wallet or hash keyword nearby)"))
        else:
            self.add(kind, token.lower(), start, end, 0.85, f"{len(token)} hex digits: {kind} by length")

    def cves(self) -> None:
        text = self.text
        for m in _CVE.finditer(self.folded):
            start, end = m.span()
            if _word_at(text, start - 1) or _word_at(text, end) or not self.free(start, end):
                continue
            if text[start + 3] != "-" and not text[start + 3].isspace():
                continue  # "?" stood for a character outside ASCII that is not a blank
            raw = text[start:end]
            self.add("cve", normalise("cve", " ".join(raw.split())), start, end, 0.99, "CVE identifier")

    def asns(self) -> None:
        text = self.text
        for m in _ASN.finditer(self.folded):
            start, end = m.span()
            if _word_at(text, start - 1) or _word_at(text, end) or not self.free(start, end):
                continue
            number = m.start(1)
            prefix = text[start:number]
            if prefix.endswith(" ") and prefix[:2] != "AS" and prefix.lower() != "asn ":
                continue  # "as 2014" is English
            try:
                value = normalise("asn", text[number:end])
            except InvalidInput:
                continue
            self.add("asn", value, start, end, 0.9, "autonomous system number")

    def phones(self) -> None:
        text = self.text
        for s in _PHONE_START.finditer(text):
            m = _PHONE.match(text, s.start())
            if m is None or _word_at(text, m.start() - 1) or text[m.start() - 1:m.start()] == "+" \
                    or _word_at(text, m.end()) or not self.free(*m.span()):
                continue
            try:
                value = normalise("phone", m.group())
            except InvalidInput:
                continue
            self.add("phone", value, *m.span(), 0.8, "international phone number (valid for its country plan)")

    def ibans(self) -> None:
        text = self.text
        openings = self.ascii.translate(_IBAN_MAP)
        done = 0
        start = openings.find(_IBAN_OPENING)
        while start >= 0:
            # The matches of _IBAN_START.finditer(text): each opens with the needle.
            s = _IBAN_START.match(text, start)
            if s is None:
                start = openings.find(_IBAN_OPENING, start + 1)
                continue
            if start >= done and not _word_at(text, start - 1):
                done = self.iban(text, start, done)
            start = openings.find(_IBAN_OPENING, s.end())

    def iban(self, text: str, start: int, done: int) -> int:
        """Judge the IBAN that may start at ``start``; returns where the next may start."""
        m = _IBAN.match(text, start)
        if m is None or _word_at(text, m.end()) or not self.free(*m.span()):
            return done
        try:
            value = normalise("iban", m.group())
        except InvalidInput:
            self.iban_shorter(start, m.group())
            return m.end()
        self.add("iban", value, *m.span(), 0.97, "IBAN with a valid checksum")
        return m.end()

    def iban_shorter(self, start: int, raw: str) -> None:
        """A greedy IBAN match may have taken a following word; retry without trailing groups."""
        parts = raw.split(" ")
        while len(parts) > 3:
            parts.pop()
            candidate = " ".join(parts)
            try:
                value = normalise("iban", candidate)
            except InvalidInput:
                continue
            self.add("iban", value, start, start + len(candidate), 0.97, "IBAN with a valid checksum")
            return


_HEXISH = re.compile(r"[0-9A-Fa-f]+")
_HASH_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}


_RESERVED_SUFFIXES = tuple("." + d for d in sorted(_RESERVED_DOMAINS))
# The IPv4 documentation ranges are /24s (tests check it): a packed address is judged by one set
# lookup of its first three bytes rather than a containment test per range.
_DOC_V4_PREFIXES = frozenset(net.network_address.packed[:3] for net in _DOC_NETS if net.version == 4)
_DOC_NETS_V6 = tuple(net for net in _DOC_NETS if net.version == 6)
_DOC_REASON = "documentation range (RFC 5737/3849): an example, not an indicator"
_NOT_AN_INDICATOR = "loopback, unspecified, multicast or netmask address: not an indicator"


def _documentation(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.version == 4:
        return address.packed[:3] in _DOC_V4_PREFIXES
    return any(address in net for net in _DOC_NETS_V6)


@lru_cache(maxsize=1 << 14)
def _reserved_host(host: str) -> bool:
    if host.startswith("["):
        host = host[1:-1]
    address = _address(host)
    if address is None:
        last = host.rsplit(".", 1)[-1]
        return last in _RESERVED_TLDS or host in _RESERVED_DOMAINS or host.endswith(_RESERVED_SUFFIXES)
    return _documentation(address)


@lru_cache(maxsize=1 << 14)
def _ip_verdict(value: str, keep_reserved: bool) -> tuple[float, str] | str:
    """(confidence, reason) for an address worth suggesting, or the reason it is not."""
    if ":" not in value:
        return _ipv4_verdict(value, keep_reserved)
    address = ipaddress.ip_address(value.split("/")[0])
    if keep_reserved:
        return 0.9, f"valid IPv{address.version} address"
    if _documentation(address):
        return _DOC_REASON
    if address.is_loopback or address.is_unspecified or address.is_multicast or value.startswith("255."):
        return _NOT_AN_INDICATOR
    if address.is_private:
        return 0.5, "private address: only meaningful inside the affected network"
    return 0.9, f"public IPv{address.version} address"


def _ipv4_verdict(value: str, keep_reserved: bool) -> tuple[float, str] | str:
    """``_ip_verdict`` of a canonical dotted quad (optionally /prefix), as normalise writes it.

    inet_aton agrees with ipaddress on canonical quads and packs one in a single C call;
    loopback (127/8), unspecified and multicast (224/4) are then byte tests. Parsing with
    ipaddress and testing each range cost a tenth of all extraction (cachegrind).
    """
    if keep_reserved:
        return 0.9, "valid IPv4 address"
    packed = socket.inet_aton(value.split("/", 1)[0])
    if packed[:3] in _DOC_V4_PREFIXES:
        return _DOC_REASON
    first = packed[0]
    if first == 127 or 224 <= first <= 239 or packed == b"\0\0\0\0" or value.startswith("255."):
        return _NOT_AN_INDICATOR
    if ipaddress.IPv4Address(packed).is_private:
        return 0.5, "private address: only meaningful inside the affected network"
    return 0.9, "public IPv4 address"


def _word_at(text: str, i: int) -> bool:
    return 0 <= i < len(text) and (text[i] in _WORD or text[i].isalnum())


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The host as an IP address, or None; names (whose last label is never all digits) are not parsed."""
    if not host or not (host[-1].isdigit() or ":" in host):
        return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _trim_url(raw: str) -> str:
    """Drop sentence punctuation and unbalanced closing brackets after a URL.

    A comma in a URL without a query is taken as a list separator ("…/a,False,False").
    """
    if "," in raw and "?" not in raw:
        raw = raw.split(",", 1)[0]
    while raw:
        last = raw[-1]
        if last in _URL_TRAILING:
            raw = raw[:-1]
        elif last in _BRACKETS and raw.count(_BRACKETS[last]) < raw.count(last):
            raw = raw[:-1]
        else:
            break
    return raw


def extract(text: str, *, keep_reserved: bool = False,
            min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> Extraction:
    """Suggest the observables in ``text``.

    ``keep_reserved`` keeps documentation-only names and ranges (example.com, 192.0.2.0/24,
    loopback), which test suites use as stand-ins for real indicators. Suggestions below
    ``min_confidence`` are reported under ``skipped`` with their confidence and reason.
    """
    if not 0 <= min_confidence <= 1:
        raise InvalidInput("must be between 0 and 1", field="min_confidence")
    scan = _Scan(text, keep_reserved, min_confidence)
    scan.tokens()
    masks, folded = _PRE_MASKS, scan.folded
    # Each whole-text pass is skipped when the text lacks what every match of its pattern holds
    # (checked by str and bytes methods in C): a token of 25 characters, "cve", a capital letter
    # (an IBAN opens with two), "+", "as". Plain prose has few indicators, and these scans were
    # most of its cost.
    if not masks or len(text) >= 25:
        scan.long_tokens()
    if not masks or b"cve" in folded:
        scan.cves()
    if not masks or not text.islower():
        scan.ibans()
    if not masks or "+" in text:
        scan.phones()
    if not masks or b"as" in folded:
        scan.asns()
    return scan.result


# Off only in tests/ai/test_ai_extract_shortcuts.py, which checks the masks change no result.
_PRE_MASKS = True


def extract_many(texts: Iterable[str], **kw: Any) -> list[Extraction]:
    return [extract(t, **kw) for t in texts]


def as_json(extraction: Extraction, *, source: dict[str, Any]) -> dict[str, Any]:
    """The documented JSON shape of ``cfc extract`` (docs/ai.md)."""
    observables = extraction.by_kind()
    return {
        "source": source,
        "extractor": {"model": MODEL_ID, "version": VERSION},
        "observables": observables,
        "counts": {kind: len(items) for kind, items in observables.items()},
        "skipped": extraction.skipped_dicts(),
    }


__all__ = ["extract", "extract_many", "as_json", "Extraction", "Found", "Skipped", "MODEL_ID", "VERSION",
           "DEFAULT_MIN_CONFIDENCE"]
