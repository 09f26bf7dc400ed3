"""The one vocabulary of observable kinds: names, validation, canonical form and STIX mapping.

Ingest, search, export, extraction and TAXII filters all go through here, so two
spellings of one indicator always meet as one value. This sits on the hot ingest
path: regexes are precompiled, the common kinds avoid object creation, and
results are memoised because feeds repeat the same values many times over.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

import base58
import bech32
import idna  # a hard dependency of tldextract, so always present
import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError

from cyberfusion.errors import InvalidInput
from cyberfusion.kit import gcutil

if TYPE_CHECKING:
    import tldextract

# tldextract (with requests and urllib3, which it imports and we never use: the suffix list is
# its bundled snapshot) and pycryptodome's keccak are imported when first needed, not with this
# module: 0.18 + 0.06 s of every ingest worker's start (python -X importtime, 2026-11-28), which
# reads STIX and needs neither unless a file holds an Ethereum address or a name to split.


@cache
def _keccak() -> Any:
    from Crypto.Hash import keccak
    return keccak

KINDS: tuple[str, ...] = (
    "ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr",
    "md5", "sha1", "sha256", "sha512",
    "btc", "eth", "xmr", "iban", "phone", "asn", "cve",
)

# Kind -> STIX object path used in patterns; the SCO type is the part before ':'.
_PATTERN_PATHS: dict[str, str] = {
    "ipv4-addr": "ipv4-addr:value",
    "ipv6-addr": "ipv6-addr:value",
    "domain-name": "domain-name:value",
    "url": "url:value",
    "email-addr": "email-addr:value",
    "md5": "file:hashes.MD5",
    "sha1": "file:hashes.'SHA-1'",
    "sha256": "file:hashes.'SHA-256'",
    "sha512": "file:hashes.'SHA-512'",
    "btc": "cryptocurrency-wallet:value",
    "eth": "cryptocurrency-wallet:value",
    "xmr": "cryptocurrency-wallet:value",
    "iban": "bank-account:iban",
    "phone": "phone-number:value",
    "asn": "autonomous-system:number",
    "cve": "vulnerability:name",
}
_SCO_TYPES: dict[str, str] = {kind: path.split(":", 1)[0] for kind, path in _PATTERN_PATHS.items()}

# Hash names as written in STIX (MD5, 'SHA-256', SHA256, sha-1 ...), keyed upper-case without '-'.
_HASH_NAMES: dict[str, str] = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
_HASH_LENGTHS: dict[int, str] = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}

_CACHE_SIZE = 1 << 16


def _invalid(kind: str, value: str, why: str | None = None) -> InvalidInput:
    shown = value if len(value) <= 200 else value[:200] + "…"
    reason = f"not a valid {kind}: {shown!r}"
    return InvalidInput(f"{reason} ({why})" if why else reason, field="value")


# --- IP addresses and ranges -------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# Dotted quads and IPv4 CIDRs are the bulk of every feed. Building ipaddress
# objects just to print them back costs most of the time budget, so these two
# shapes are checked and canonicalised here; every other form goes to ipaddress.
_IPV4_CANONICAL = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}\Z")
_IPV4_CIDR = re.compile(rf"((?:{_OCTET}\.){{3}}{_OCTET})/([0-9]|[12][0-9]|3[0-2])\Z")
_IP_CLASSES = {"ipv4-addr": (ipaddress.IPv4Address, ipaddress.IPv4Network),
               "ipv6-addr": (ipaddress.IPv6Address, ipaddress.IPv6Network)}


def _ipv4_cidr(address: str, prefix: int) -> str:
    if prefix == 32:
        return address
    a, b, c, d = (int(octet) for octet in address.split("."))
    net = ((a << 24) | (b << 16) | (c << 8) | d) & ~(0xFFFFFFFF >> prefix)
    return f"{net >> 24}.{(net >> 16) & 255}.{(net >> 8) & 255}.{net & 255}/{prefix}"


def _ip(kind: str, value: str) -> str:
    if kind == "ipv4-addr":
        if _IPV4_CANONICAL.match(value):
            return value
        if m := _IPV4_CIDR.match(value):
            return _ipv4_cidr(m[1], int(m[2]))
    if "%" in value:  # a zone id only means something on the host that wrote it
        raise _invalid(kind, value, "scoped address")
    address_class, network_class = _IP_CLASSES[kind]
    try:
        if "/" not in value:
            return str(address_class(value))
        net = network_class(value, strict=False)
    except ValueError:
        raise _invalid(kind, value) from None
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def _ipv4(value: str) -> str:
    return _ip("ipv4-addr", value)


def _ipv6(value: str) -> str:
    return _ip("ipv6-addr", value)


_V4_MAPPED = 0xFFFF << 32


@lru_cache(maxsize=1 << 14)
def ip_range(value: str) -> tuple[str, str]:
    """First and last address of an IP or CIDR as 32-char hex in one IPv6 space.

    IPv4 is mapped to ::ffff:a.b.c.d, so "is X inside range R" becomes a plain
    string comparison (lo <= x <= hi) on any database.
    """
    text = value.strip()
    if _IPV4_CANONICAL.match(text):  # the common case, without ipaddress (under a third of the CPU)
        a, b, c, d = (int(octet) for octet in text.split("."))
        first = f"{(a << 24) | (b << 16) | (c << 8) | d | _V4_MAPPED:032x}"
        return first, first
    try:
        if "%" in text:
            raise ValueError(text)
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidInput(f"not a valid IP address or range: {value!r}", field="value") from None
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.version == 4:
        first, last = first | _V4_MAPPED, last | _V4_MAPPED
    return f"{first:032x}", f"{last:032x}"


# --- Domain names, URLs, e-mail addresses ------------------------------------

# Underscores are allowed because real hostnames carry them (_dmarc, xmpp_chat)
# and resolvers accept them; the TLD must be alphabetic or an A-label, which
# keeps dotted numbers ("1.2.3") out.
_LABEL = r"(?!-)[a-z0-9_-]{1,63}(?<!-)"
_TLD = r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+{_TLD}\Z")
_HOSTNAME = re.compile(rf"(?:{_LABEL}\.)*{_TLD}\Z")


def _punycode_ok(host: str) -> bool:
    for label in host.split("."):
        if label.startswith("xn--"):
            try:
                decoded = label[4:].encode("ascii").decode("punycode")
            except UnicodeError:
                return False
            # The codec accepts garbage that decodes to control characters or plain ASCII.
            if not decoded or decoded.isascii() or not decoded.isprintable():
                return False
    return True


def _to_ascii(host: str) -> str | None:
    """UTS 46 mapping, then IDNA 2008 A-labels for the non-ASCII labels only.

    Label by label so that an ASCII label with '_' next to a Unicode label is
    not rejected by IDNA's stricter rules for the whole name.
    """
    try:
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
        return ".".join(label if label.isascii() else idna.alabel(label).decode("ascii")
                        for label in mapped.split("."))
    except (idna.IDNAError, UnicodeError):
        return None


@lru_cache(maxsize=_CACHE_SIZE)
def _hostname(value: str, need_dot: bool) -> str | None:
    """Canonical host name (lower-case A-labels, no trailing dot), or None."""
    host = value.lower() if value.isascii() else _to_ascii(value)
    if host is None:
        return None
    if host.endswith("."):
        host = host[:-1]
    if len(host) > 253 or not (_DOMAIN if need_dot else _HOSTNAME).match(host):
        return None
    if "xn--" in host and not _punycode_ok(host):
        return None
    return host


def _domain(value: str) -> str:
    host = _hostname(value, True)
    if host is None:
        raise _invalid("domain-name", value)
    return host


# Scheme -> default port (None: the scheme has no default to drop).
_SCHEMES: dict[str, int | None] = {
    "http": 80, "https": 443, "ftp": 21, "ftps": 990, "sftp": 22, "ssh": 22, "telnet": 23,
    "ws": 80, "wss": 443, "ldap": 389, "ldaps": 636, "smb": 445, "rtsp": 554,
    "irc": 6667, "ircs": 6697, "gopher": 70, "tcp": None, "udp": None,
}
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)\Z", re.S)
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")
_PORT = re.compile(r"[0-9]{1,5}\Z")
_IPV4ISH = re.compile(r"[0-9.]+\Z")


def _ip_in(kind: str, value: str, ip_kind: str, literal: str) -> str:
    """An IP address (not a range) inside a URL or e-mail address, errors naming the outer kind."""
    try:
        if "/" in literal:
            raise ValueError(literal)
        return _ip(ip_kind, literal)
    except (InvalidInput, ValueError):
        raise _invalid(kind, value, f"bad IP address {literal!r}") from None


def _url_parts(value: str) -> tuple[str, str, str, str]:
    """(scheme://userinfo@, host, :port or "", rest) in canonical form; host may be an IP literal."""
    m = _URL.match(value)
    if m is None or _URL_FORBIDDEN.search(value):
        raise _invalid("url", value)
    scheme = m[1].lower()
    if scheme not in _SCHEMES:
        raise _invalid("url", value, f"scheme {scheme!r} not supported")
    userinfo, at, hostport = m[2].rpartition("@")
    if hostport.startswith("["):
        literal, bracket, port = hostport[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            raise _invalid("url", value, "bad IPv6 literal")
        host = "[" + _ip_in("url", value, "ipv6-addr", literal) + "]"
        port = port[1:]
    else:
        name, _, port = hostport.partition(":")
        if _IPV4ISH.match(name):
            host = _ip_in("url", value, "ipv4-addr", name)
        else:
            host = _hostname(name, False) or ""
        if not host:
            raise _invalid("url", value, "no valid host")
    if port:
        if not _PORT.match(port) or int(port) > 65535:
            raise _invalid("url", value, "bad port")
        port = "" if int(port) == _SCHEMES[scheme] else f":{int(port)}"
    return f"{scheme}://{userinfo}{at}", host, port, m[3]


def _url(value: str) -> str:
    return "".join(_url_parts(value))


_ATOM = r"[^\x00-\x20\x7f\"(),.:;<>@\[\\\]]+"
_EMAIL_LOCAL = re.compile(rf"(?:{_ATOM}(?:\.{_ATOM})*|\"(?:[^\"\\\r\n]|\\.)*\")\Z")


def _email_parts(value: str) -> tuple[str, str]:
    local, at, domain = value.rpartition("@")
    if not at or not local or len(local) > 64 or not _EMAIL_LOCAL.match(local):
        raise _invalid("email-addr", value)
    if domain.startswith("[") and domain.endswith("]"):
        literal = domain[1:-1]
        if literal[:5].lower() == "ipv6:":
            return local, "[IPv6:" + _ip_in("email-addr", value, "ipv6-addr", literal[5:]) + "]"
        return local, "[" + _ip_in("email-addr", value, "ipv4-addr", literal) + "]"
    host = _hostname(domain, True)
    if host is None:
        raise _invalid("email-addr", value, "bad domain")
    return local, host


def _email(value: str) -> str:
    local, domain = _email_parts(value)
    return f"{local}@{domain}"


# --- Hashes, CVE, ASN --------------------------------------------------------

_HEX = re.compile(r"[0-9a-fA-F]+\Z")


def _hash_normaliser(kind: str, length: int) -> Callable[[str], str]:
    def normalise_hash(value: str) -> str:
        if len(value) != length or not _HEX.match(value):
            raise _invalid(kind, value, f"expected {length} hex digits")
        return value.lower()
    return normalise_hash


_CVE = re.compile(r"[Cc][Vv][Ee][- ]([0-9]{4})-([0-9]{4,})\Z")


def _cve(value: str) -> str:
    m = _CVE.match(value)
    if m is None:
        raise _invalid("cve", value, "expected CVE-YYYY-NNNN")
    return f"CVE-{m[1]}-{m[2]}"


_ASN = re.compile(r"(?:[Aa][Ss][Nn]? ?)?([0-9]{1,10})\Z")
_ASN_DETECT = re.compile(r"[Aa][Ss][Nn]?[0-9]{1,10}\Z")


def _asn(value: str) -> str:
    m = _ASN.match(value)
    if m is None or int(m[1]) > 0xFFFFFFFF:
        raise _invalid("asn", value)
    return f"AS{int(m[1])}"


# --- Bank accounts and phone numbers -----------------------------------------

def _iban(value: str) -> str:
    try:
        return stdnum_iban.validate(value)
    except ValidationError as exc:
        raise _invalid("iban", value, str(exc)) from None


def _phone(value: str, region: str | None = None) -> str:
    try:
        number = phonenumbers.parse(value, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        raise _invalid("phone", value, "needs a +country code or a default region") from None
    if not phonenumbers.is_valid_number(number):
        raise _invalid("phone", value)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- Cryptocurrency wallets --------------------------------------------------

_BTC_VERSIONS = frozenset({0x00, 0x05, 0x6F, 0xC4})  # P2PKH, P2SH; mainnet and testnet
_SEGWIT_HRPS = frozenset({"bc", "tb"})
_BECH32M_CONST = 0x2BC830A3


def _segwit_ok(address: str) -> bool:
    """BIP-173 (v0, bech32) and BIP-350 (v1+, bech32m) segwit address check.

    The bech32 package (1.2.0, its latest release) predates BIP-350, so its
    decode() rejects every taproot address; we reuse its polymod and apply the
    checksum constant that belongs to the witness version.
    """
    if len(address) > 90 or (address != address.lower() and address != address.upper()):
        return False
    hrp, _, data_part = address.lower().rpartition("1")
    if hrp not in _SEGWIT_HRPS or len(data_part) < 7:
        return False
    data = [bech32.CHARSET.find(c) for c in data_part]
    if -1 in data or data[0] > 16:
        return False
    expected = 1 if data[0] == 0 else _BECH32M_CONST
    if bech32.bech32_polymod(bech32.bech32_hrp_expand(hrp) + data) != expected:
        return False
    program = bech32.convertbits(data[1:-6], 5, 8, False)
    if program is None or not 2 <= len(program) <= 40:
        return False
    return data[0] != 0 or len(program) in (20, 32)


def _btc(value: str) -> str:
    lower = value.lower()
    if lower.startswith(("bc1", "tb1")):
        if not _segwit_ok(value):
            raise _invalid("btc", value, "bad bech32 address")
        return lower
    try:
        raw = base58.b58decode_check(value)
    except ValueError as exc:
        raise _invalid("btc", value, str(exc)) from None
    if len(raw) != 21 or raw[0] not in _BTC_VERSIONS:
        raise _invalid("btc", value, "not a P2PKH or P2SH address")
    return value


_ETH = re.compile(r"0x([0-9a-fA-F]{40})\Z")


def _eip55(lower_hex: str) -> str:
    digest = _keccak().new(digest_bits=256, data=lower_hex.encode("ascii")).hexdigest()
    return "".join(c.upper() if d in "89abcdef" else c for c, d in zip(lower_hex, digest))


def _eth(value: str) -> str:
    m = _ETH.match(value)
    if m is None:
        raise _invalid("eth", value, "expected 0x and 40 hex digits")
    digits = m[1]
    lower = digits.lower()
    if digits != lower and digits != digits.upper() and digits != _eip55(lower):
        raise _invalid("eth", value, "EIP-55 checksum mismatch")
    return "0x" + lower


_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}
# Monero base58 encodes 8-byte blocks as 11 characters; a short last block of
# n characters carries this many bytes.
_XMR_BLOCK_BYTES = {2: 1, 3: 2, 5: 3, 6: 4, 7: 5, 9: 6, 10: 7, 11: 8}
# Network prefix byte -> decoded length: standard and subaddress 69, integrated 77.
_XMR_PREFIXES = {18: 69, 42: 69, 19: 77,   # mainnet
                 53: 69, 63: 69, 54: 77,   # testnet
                 24: 69, 36: 69, 25: 77}   # stagenet


def _monero_b58decode(text: str) -> bytes | None:
    """Monero's block-wise base58 (not Bitcoin's big-number base58).

    Hand-written: no maintained Python package implements it, and it is short.
    """
    out = bytearray()
    for start in range(0, len(text), 11):
        block = text[start:start + 11]
        size = _XMR_BLOCK_BYTES.get(len(block))
        if size is None:
            return None
        number = 0
        for char in block:
            digit = _B58_INDEX.get(char)
            if digit is None:
                return None
            number = number * 58 + digit
        if number >> (8 * size):
            return None
        out += number.to_bytes(size, "big")
    return bytes(out)


def _xmr(value: str) -> str:
    raw = _monero_b58decode(value) if len(value) in (95, 106) else None
    if raw is None or _XMR_PREFIXES.get(raw[0]) != len(raw):
        raise _invalid("xmr", value)
    if _keccak().new(digest_bits=256, data=raw[:-4]).digest()[:4] != raw[-4:]:
        raise _invalid("xmr", value, "checksum mismatch")
    return value


def _wallet_kind(value: str) -> str:
    if value.startswith("0x"):
        return "eth"
    return "xmr" if len(value) in (95, 106) else "btc"


# --- normalise ---------------------------------------------------------------

_NORMALISERS: dict[str, Callable[[str], str]] = {
    "ipv4-addr": _ipv4, "ipv6-addr": _ipv6, "domain-name": _domain, "url": _url,
    "email-addr": _email,
    **{kind: _hash_normaliser(kind, length) for length, kind in _HASH_LENGTHS.items()},
    "btc": _btc, "eth": _eth, "xmr": _xmr, "iban": _iban, "phone": _phone,
    "asn": _asn, "cve": _cve,
}


def _unknown_kind(kind: object) -> InvalidInput:
    return InvalidInput(f"unknown observable kind: {kind!r}", field="kind")


@lru_cache(maxsize=_CACHE_SIZE)
def _normalise(kind: str, value: str) -> str:
    normaliser = _NORMALISERS.get(kind)
    if normaliser is None:
        raise _unknown_kind(kind)
    return normaliser(value.strip())


def normalise(kind: str, value: str, *, default_region: str | None = None) -> str:
    """Validate ``value`` as ``kind`` and return its canonical form.

    ``default_region`` (ISO 3166 code) only applies to phone numbers written
    without a +country code. Raises InvalidInput (field "value", or "kind").
    """
    if not isinstance(value, str):
        raise InvalidInput(f"not a valid {kind}: expected text, got {type(value).__name__}",
                           field="value")
    if default_region is not None and kind == "phone":
        return _phone(value.strip(), default_region)
    if not isinstance(kind, str):
        raise _unknown_kind(kind)
    return _normalise(kind, value)


# --- public suffix list ------------------------------------------------------

@cache
def _extractor() -> tldextract.TLDExtract:
    # Offline on purpose: the default constructor downloads the suffix list;
    # this one uses the snapshot shipped inside tldextract.
    import tldextract
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class _SuffixNode:
    """One label of the public suffix rules, read right to left (tldextract's trie, same shape)."""

    __slots__ = ("children", "end")

    def __init__(self) -> None:
        self.children: dict[str, _SuffixNode] = {}
        self.end = False


@cache
def _suffix_trie() -> _SuffixNode:
    """The ICANN rules of tldextract's bundled snapshot ("*." and "!" rules kept as labels, as
    tldextract keeps them), built once.

    Walked by ``_split_suffix`` instead of calling tldextract per name: its URL parsing,
    result object and punycode attempt on every label cost 4x the walk (measured with
    cachegrind: 56.6 -> 54.7 M instructions per pass of the extraction benchmark).
    """
    root = _SuffixNode()
    for rule in _extractor().tlds:
        node = root
        for label in reversed(rule.split(".")):
            child = node.children.get(label)
            if child is None:
                child = node.children[label] = _SuffixNode()
            node = child
        node.end = True
    # ~24,000 trie nodes (tldextract's and this one) for the life of the process: out of the
    # collector's full passes in a server (20 ms a pass with them in its sight, 3 ms without;
    # kit/geoip.py says why that matters).
    gcutil.set_aside_loaded()
    return root


def _rule_label(label: str) -> str:
    """A label as the rules spell it: U-label for a valid A-label (tldextract's rule)."""
    if label.startswith("xn--"):
        try:
            return idna.decode(label)
        except (UnicodeError, IndexError):
            pass
    return label


@lru_cache(maxsize=_CACHE_SIZE)
def _split_suffix(host: str) -> tuple[str, str]:
    """(registered domain or "", public suffix or "") of a canonical host name.

    The same answer as tldextract's ``top_domain_under_public_suffix`` and ``suffix`` (ICANN
    rules only, wildcard and exception rules included): tests/kit/test_observables_suffix.py
    compares the two over every rule.
    """
    labels = host.split(".")
    node = _suffix_trie()
    found = i = len(labels)
    while i and node.children:  # a rule without rules under it: no decoding needed to stop
        label = labels[i - 1]
        child = node.children.get(label if label[:4] != "xn--" else _rule_label(label))
        if child is None:
            if "*" in node.children:
                found = i if "!" + _rule_label(label) in node.children else i - 1
            break
        i -= 1
        node = child
        if child.end:
            found = i
    if found == len(labels):
        return "", ""
    suffix = ".".join(labels[found:])
    return (f"{labels[found - 1]}.{suffix}" if found and labels[found - 1] else ""), suffix


def registered_domain(domain: str) -> str | None:
    """The registrable domain ("bbc.co.uk" for "www.bbc.co.uk"), or None."""
    host = _hostname(domain.strip(), False)
    return (_split_suffix(host)[0] or None) if host else None


def registered_domain_of_name(host: str) -> str | None:
    """``registered_domain`` of a host name already in canonical form, as ``normalise`` returns the
    host of a domain, URL or e-mail address: the same answer without canonicalising it again (a
    memo miss and a pattern match per name, 2 % of extraction; cachegrind)."""
    return _split_suffix(host)[0] or None


def public_suffix(domain: str) -> str | None:
    """The public suffix ("co.uk" for "www.bbc.co.uk"), or None if it has none."""
    host = _hostname(domain.strip(), False)
    return (_split_suffix(host)[1] or None) if host else None


def _is_public_name(host: str) -> bool:
    """True for a name under a real public suffix (so "setup.exe" is not a domain)."""
    return bool(_split_suffix(host)[0])


# --- detect ------------------------------------------------------------------

_WHITESPACE = re.compile(r"\s")
_PHONEISH = re.compile(r"\+[0-9][0-9 ().-]{5,24}\Z")
_IPV4_DETECT = re.compile(r"[0-9.]+(?:/[0-9]{1,2})?\Z")
_IPV6_DETECT = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:/[0-9]{1,3})?\Z")
_BTC_BASE58 = re.compile(r"[123mn][1-9A-HJ-NP-Za-km-z]{25,34}\Z")
_XMR_BASE58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]{95}(?:[1-9A-HJ-NP-Za-km-z]{11})?\Z")
_IBANISH = re.compile(r"[A-Za-z]{2}[0-9]{2}[A-Za-z0-9]{11,30}\Z")
_SEGWITISH = re.compile(r"(?:[Bb][Cc]|[Tt][Bb])1[0-9A-Za-z]{6,87}\Z")
# Shapes that a checksum or a strict format then confirms; a token that fits a
# shape but fails its check may still be a domain name ("cvent.com", "tb1.example.org").
_DETECT_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (_ETH, "eth"),
    (_CVE, "cve"),
    (_ASN_DETECT, "asn"),
    (_SEGWITISH, "btc"),
    (_BTC_BASE58, "btc"),
    (_XMR_BASE58, "xmr"),
    (_IBANISH, "iban"),
)


def _attempt(kind: str, value: str) -> tuple[str, str] | None:
    try:
        return kind, _normalise(kind, value)
    except InvalidInput:
        return None


def detect(value: str) -> tuple[str, str] | None:
    """Guess the kind of one (already refanged) token: (kind, canonical value) or None.

    Checks run from the most to the least specific shape, and each guess must
    validate, so plain words, file names and version numbers give None.
    """
    token = value.strip()
    if not token or len(token) > 8192:
        return None
    if token[0] == "+":
        return _attempt("phone", token) if _PHONEISH.match(token) else None
    if _WHITESPACE.search(token):
        return None
    if "@" in token and "/" not in token:
        return _detect_email(token)
    if "://" in token:
        return _detect_url(token)
    kind = _HASH_LENGTHS.get(len(token))
    if kind and _HEX.match(token):
        # All-digit strings of hash length are numbers far more often than hashes.
        return None if token.isdigit() else (kind, token.lower())
    if _IPV4_DETECT.match(token):
        return _attempt("ipv4-addr", token)
    if _IPV6_DETECT.match(token):
        return _attempt("ipv6-addr", token)
    for shape, kind in _DETECT_SHAPES:
        if shape.match(token) and (found := _attempt(kind, token)) is not None:
            return found
    if "." in token:
        host = _hostname(token, True)
        if host is not None and _is_public_name(host):
            return "domain-name", host
    return None


def _detect_email(token: str) -> tuple[str, str] | None:
    try:
        local, domain = _email_parts(token)
    except InvalidInput:
        return None
    if domain[0] != "[" and not _is_public_name(domain):
        return None
    return "email-addr", f"{local}@{domain}"


def _detect_url(token: str) -> tuple[str, str] | None:
    try:
        parts = _url_parts(token)
    except InvalidInput:
        return None
    host = parts[1]
    if host[0] != "[" and not _IPV4ISH.match(host) and not _is_public_name(host):
        return None
    return "url", "".join(parts)


# --- STIX patterns and SCOs --------------------------------------------------

_PATH_KINDS: dict[str, str] = {
    "ipv4-addr:value": "ipv4-addr",
    "ipv6-addr:value": "ipv6-addr",
    "domain-name:value": "domain-name",
    "url:value": "url",
    "email-addr:value": "email-addr",
    "email-message:from_ref.value": "email-addr",
    "autonomous-system:number": "asn",
    "cryptocurrency-wallet:value": "wallet",
    "bank-account:iban": "iban",
    "phone-number:value": "phone",
    "vulnerability:name": "cve",
}
# One `path = literal` comparison. Only the escapes STIX allows (\' and \\) are
# accepted; anything else makes the fast path decline and the full parser judge.
_COMPARISON = re.compile(
    r"\s*(?P<type>[a-z0-9-]+):"
    r"(?P<prop>hashes\.(?:[A-Za-z0-9_]+|'[A-Za-z0-9_-]+')|[a-z_]+(?:\.[a-z_]+)*)"
    r"\s*=\s*(?:'(?P<str>[^'\\]*(?:\\['\\][^'\\]*)*)'|(?P<int>[0-9]+))\s*"
)
_OPEN = re.compile(r"\s*\[")
# After a comparison: "OR" inside the bracket, or "]" optionally followed by "OR [".
_AFTER = re.compile(r"\](?:\s*OR\s*\[)?|OR\s+")
_UNESCAPE = re.compile(r"\\(['\\])")


def _comparison_kind(match: re.Match[str]) -> tuple[str, str] | None:
    """(kind, raw value) of one comparison, or None when the fast path does not cover it."""
    obj, prop = match["type"], match["prop"]
    if prop.startswith("hashes."):
        kind = _HASH_NAMES.get(prop[7:].strip("'").upper().replace("-", "")) if obj == "file" else None
    else:
        kind = _PATH_KINDS.get(f"{obj}:{prop}")
    if kind is None:
        return None
    if kind == "asn":
        return (kind, match["int"]) if match["int"] is not None else None
    text = match["str"]
    if text is None:
        return None
    if "\\" in text:
        text = _UNESCAPE.sub(r"\1", text)
    return (_wallet_kind(text) if kind == "wallet" else kind), text


def from_pattern(pattern: str) -> list[tuple[str, str]] | None:
    """Observables of a simple STIX pattern: equality comparisons joined by OR.

    Returns None for any other shape (AND, other operators, qualifiers,
    unsupported paths) so the caller falls back to the full stix2patterns
    parser. Raises InvalidInput (field "pattern") when a value in a simple
    pattern is not valid for its kind.
    """
    # Import validates a pattern and then indexes it a batch later (ingest.pipeline.BATCH = 2000
    # objects): the memo, larger than a batch, makes the second call free (measured: 9% of
    # import CPU went to parsing each pattern twice).
    found = _from_pattern(pattern)
    return None if found is None else list(found)


@lru_cache(maxsize=4096)
def _from_pattern(pattern: str) -> tuple[tuple[str, str], ...] | None:
    opening = _OPEN.match(pattern)
    if opening is None:
        return None
    found: list[tuple[str, str]] = []
    pos = opening.end()
    while True:
        comparison = _COMPARISON.match(pattern, pos)
        if comparison is None or (pair := _comparison_kind(comparison)) is None:
            return None
        found.append(pair)
        joiner = _AFTER.match(pattern, comparison.end())
        if joiner is None:
            return None
        pos = joiner.end()
        if joiner[0] == "]":
            break
    if pattern[pos:].strip():  # a qualifier, AND, FOLLOWEDBY or anything else after the last "]"
        return None
    result = []
    for kind, raw in found:
        try:
            result.append((kind, _normalise(kind, raw)))
        except InvalidInput as exc:
            raise InvalidInput(exc.problems[0].reason, field="pattern") from None
    return tuple(result)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


# Checks whose match proves normalise(kind, value) == value, so a stored (canonical) value is put in
# a pattern without normalising it again (country reports print one pattern per item, 519,504 at 1M
# observables, nearly all distinct, so the normaliser's cache does not help). Dotted quad: the
# normaliser's own first test. Domain name: the domain pattern admits only lower-case ASCII without
# surrounding space or a final dot, so lower-casing, stripping and IDNA change nothing; A-labels
# ("xn--") and over-long names take the full path (their checks are more than the pattern).
# URL: http(s) with a host that is a canonical dotted quad or such a name (no user, no port), then
# nothing that _URL_FORBIDDEN rejects; _url_parts gives such a URL back unchanged.
_URL_AS_IS = re.compile(rf"https?://((?:{_OCTET}\.){{3}}{_OCTET}|(?:{_LABEL}\.)*{_TLD})(?:[/?#][^\x00-\x20\x7f]*)?\Z")


def _url_as_is(value: str) -> bool:
    m = _URL_AS_IS.match(value)
    return m is not None and len(m[1]) <= 253 and "xn--" not in m[1]


_CANONICAL_AS_IS: dict[str, Callable[[str], object]] = {
    "ipv4-addr": _IPV4_CANONICAL.match,
    "domain-name": lambda v: len(v) <= 253 and "xn--" not in v and _DOMAIN.match(v),
    "url": _url_as_is,
}


def to_pattern(kind: str, value: str) -> str:
    """The simple STIX pattern for one observable (the inverse of from_pattern)."""
    as_is = _CANONICAL_AS_IS.get(kind) if type(value) is str else None
    canonical = value if as_is is not None and as_is(value) else normalise(kind, value)
    if kind == "asn":
        return f"[autonomous-system:number = {canonical[2:]}]"
    return f"[{_PATTERN_PATHS[kind]} = '{_escape(canonical)}']"


def to_sco_type(kind: str) -> str:
    """The STIX object type that holds a kind ("file" for hashes, "autonomous-system" for asn)."""
    try:
        return _SCO_TYPES[kind]
    except KeyError:
        raise _unknown_kind(kind) from None


# SCO type -> (property, kind); hashes and wallets are handled apart.
_SCO_FIELDS: dict[str, tuple[str, str]] = {
    "ipv4-addr": ("value", "ipv4-addr"),
    "ipv6-addr": ("value", "ipv6-addr"),
    "domain-name": ("value", "domain-name"),
    "url": ("value", "url"),
    "email-addr": ("value", "email-addr"),
    "autonomous-system": ("number", "asn"),
    "cryptocurrency-wallet": ("value", "wallet"),
    "bank-account": ("iban", "iban"),
    "phone-number": ("value", "phone"),
}


def from_sco(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Observables held by one STIX 2.1 cyber-observable object.

    Values that do not validate are skipped, never raised: an SCO may
    legitimately carry content outside this vocabulary.
    """
    sco_type = obj.get("type")
    candidates: list[tuple[str, Any]] = []
    if sco_type == "file":
        hashes = obj.get("hashes")
        if isinstance(hashes, Mapping):
            for name, digest in hashes.items():
                kind = _HASH_NAMES.get(str(name).upper().replace("-", ""))
                if kind:
                    candidates.append((kind, digest))
    elif sco_type in _SCO_FIELDS:
        prop, kind = _SCO_FIELDS[sco_type]
        raw = obj.get(prop)
        if kind == "asn" and isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)
        if kind == "wallet" and isinstance(raw, str):
            kind = _wallet_kind(raw.strip())
        candidates.append((kind, raw))
    result = []
    for kind, raw in candidates:
        if isinstance(raw, str) and (pair := _attempt(kind, raw)) is not None:
            result.append(pair)
    return result


__all__ = [
    "KINDS", "normalise", "detect", "registered_domain", "registered_domain_of_name", "public_suffix", "ip_range",
    "from_pattern", "from_sco", "to_pattern", "to_sco_type",
]
