"""One fuzz target per parser: bytes in, a result or a located InvalidInput out.

Anything else a target raises is a finding. The targets hold no fuzzer code, so they run
under atheris (fuzz/run.py) and, for a quick replay of a crash file, from plain Python:
``python -c "import fuzz.targets as t; t.TARGETS['stix'](open('crash-…','rb').read())"``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cyberfusion.errors import InvalidInput

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def located(run: Callable[[], Any]) -> None:
    """Run a parse; an InvalidInput must say where and why, anything else propagates."""
    try:
        run()
    except InvalidInput as exc:
        for p in exc.problems:
            if not p.reason or not (p.file or p.location or p.field):
                raise AssertionError(f"a problem without a reason or location: {p!r}") from exc


def stix(data: bytes) -> None:
    from cyberfusion.ingest.stix import iter_stix
    located(lambda: list(iter_stix(io.BytesIO(data), file_name="fuzz.json")))
    located(lambda: list(iter_stix(io.BytesIO(data), file_name="fuzz.json", errors=[])))


def misp(data: bytes) -> None:
    from cyberfusion.ingest.misp import iter_misp, summarise_misp
    located(lambda: list(iter_misp(io.BytesIO(data), file_name="fuzz.json", default_time=NOW)))
    located(lambda: list(iter_misp(io.BytesIO(data), file_name="fuzz.json", errors=[], default_time=NOW)))
    located(lambda: summarise_misp(io.BytesIO(data), file_name="fuzz.json"))


def csv(data: bytes) -> None:
    from cyberfusion.ingest.tabular import iter_csv
    located(lambda: list(iter_csv(io.BytesIO(data), file_name="fuzz.csv", default_time=NOW)))


def text(data: bytes) -> None:
    from cyberfusion.ingest.text import iter_text
    located(lambda: list(iter_text(io.BytesIO(data), file_name="fuzz.txt", default_time=NOW)))


_NAMES = ("a.txt", "a.html", "a.pdf", "a.eml", "a.docx", "a.odt", "noext")


def documents(data: bytes) -> None:
    """Text extraction: the first byte picks the file name (format), the rest is the document."""
    from cyberfusion.ai.documents import read_bytes
    from cyberfusion.ai.extract import extract
    if not data:
        return
    name = _NAMES[data[0] % len(_NAMES)]
    located(lambda: read_bytes(data[1:], name=name))
    found = extract(data[1:].decode("utf-8", "replace"))
    assert all(0 <= f.start <= f.end for f in found.found)


def taxii_query(data: bytes) -> None:
    """TAXII query string (as a client sends it), Accept and Content-Type headers, and a next cursor."""
    from urllib.parse import parse_qs

    from cyberfusion.errors import CyberfusionError
    from cyberfusion.taxii import media, pagination, service
    raw = data.decode("utf-8", "replace")
    params = parse_qs(raw, keep_blank_values=True)
    for allowed in (service.OBJECTS_PARAMS, service.OBJECT_PARAMS, service.VERSIONS_PARAMS):
        located(lambda: service.parse_query(params, allowed))  # noqa: B023 - run at once
    located(lambda: pagination.decode(raw, secret="k" * 40, scope="fuzz"))
    for check in (lambda: media.negotiate(raw), lambda: media.require_content_type(raw)):
        try:
            check()
        except CyberfusionError as exc:
            assert exc.status in (406, 415)


def patterns(data: bytes) -> None:
    """STIX patterns: the fast path, the full OASIS parser, and the indexing of both."""
    from cyberfusion.ingest.observables import observables_of
    from cyberfusion.ingest.stix import validate_object
    from cyberfusion.kit.observables import from_pattern, normalise
    pattern = data.decode("utf-8", "replace")
    located(lambda: from_pattern(pattern))
    for kind, value in observables_of({"type": "indicator", "pattern_type": "stix", "pattern": pattern}):
        assert normalise(kind, value) == value
    validate_object({"type": "indicator", "spec_version": "2.1", "id": "indicator--2f5e0e7c-8f5c-4f6e-9f1a-3c4b5d6e7f80",
                     "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "pattern": pattern,
                     "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"})


_LOOKUP_KINDS = (None, "ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "md5", "sha1", "sha256",
                 "sha512", "btc", "iban", "no-such-kind")


def lookup_values(data: bytes) -> None:
    """A batch of asked values (one per line; the first byte picks the ``kind`` filter and the
    key's length): the C path of the batch lookup (fusion/_fastlookup.c) must give exactly the
    Python path's (kind, value) pairs and keyed digests, and neither may raise. Differential:
    the C code parses hostile input, so any disagreement or crash is a finding."""
    from cyberfusion.fusion import hits
    if not data:
        return
    kind = _LOOKUP_KINDS[data[0] % len(_LOOKUP_KINDS)]
    key = bytes(range(data[0] % 97))  # 0 to 96 bytes: shorter and longer than SHA-256's block
    values = data[1:].decode("utf-8", "surrogateescape").split("\n")
    python = hits.parse_and_digest(values, kind, key, native=False)
    native = hits.parse_and_digest(values, kind, key, native=True)
    assert native == python, (values, kind)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "stix": stix, "misp": misp, "csv": csv, "text": text, "documents": documents, "taxii_query": taxii_query,
    "patterns": patterns, "lookup_values": lookup_values,
}


def seeds(name: str) -> list[bytes]:
    """Starting inputs for a target: the shared conformance corpus where it has some."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[2] / "shared" / "conformance"
    small = [json.dumps({"type": "bundle"}).encode()]
    if name == "stix":
        return [p.read_bytes() for p in sorted((root / "stix21" / "valid").glob("*.json"))[:20]] or small
    if name == "misp":
        return [p.read_bytes() for p in sorted((root / "misp" / "events").glob("*.json"))
                if p.stat().st_size < 50_000][:20] or small
    if name == "csv":
        return [b"value,type,first_seen\n198.51.100.7,ipv4-addr,2026-01-01\nevil[.]example,,\n"]
    if name == "text":
        return [b"198.51.100.7\nhxxp://evil[.]example/a  # C2\n# comment\n"]
    if name == "documents":
        return [b"\x00C2 at 198.51.100.7, mail a@evil.example", b"\x03From: a@b.example\n\nhxxp://x[.]example\n"]
    if name == "taxii_query":
        return [b"match[type]=indicator&match[version]=all&limit=10&added_after=2026-01-01T00:00:00Z"]
    if name == "lookup_values":
        return [b"\x00198.51.100.7\nEVIL.example\nhxxp://evil[.]example/a\na@b.example\n" + b"A" * 64 +
                b"\n2001:db8:0:0:0:0:0:1\n1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2\nDE89370400440532013000",
                b"\x03https://bank.example.com/login?x=1\n" + b"f" * 40]
    return [b"[ipv4-addr:value = '198.51.100.7'] OR [file:hashes.'SHA-256' = '" + b"a" * 64 + b"']"]
