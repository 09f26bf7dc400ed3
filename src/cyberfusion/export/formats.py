"""MISP event, CSV and blocklist renderings of readable intelligence."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, TextIO

from cyberfusion.sharing.markings import TLP_LEVELS

# Our observable kinds -> MISP attribute types (MISP has no Ethereum type: it goes as text).
MISP_TYPES = {
    "ipv4-addr": "ip-dst", "ipv6-addr": "ip-dst", "domain-name": "domain", "url": "url",
    "email-addr": "email-src", "md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha512": "sha512",
    "btc": "btc", "xmr": "xmr", "eth": "text", "iban": "iban", "phone": "phone-number", "asn": "AS",
    "cve": "vulnerability",
}
MISP_CATEGORY = {"md5": "Payload delivery", "sha1": "Payload delivery", "sha256": "Payload delivery",
                 "sha512": "Payload delivery", "btc": "Financial fraud", "xmr": "Financial fraud",
                 "eth": "Financial fraud", "iban": "Financial fraud", "phone": "Other", "cve": "External analysis"}
BLOCKLIST_KINDS = ("ipv4-addr", "ipv6-addr", "domain-name", "url", "md5", "sha1", "sha256", "sha512")


def misp_event(rows: Iterable[tuple[str, str, str, dict[str, Any]]], *, info: str, org_name: str) -> str:
    """A MISP event (JSON) from (kind, value, stix_id, handling) rows, one attribute per value."""
    from pymisp import MISPEvent

    event = MISPEvent()
    event.info = info
    event.distribution = 0
    strictest = 0
    seen: set[tuple[str, str]] = set()
    for kind, value, stix_id, handling in rows:
        if (kind, value) in seen:
            continue
        seen.add((kind, value))
        tlp = handling["tlp"]
        strictest = max(strictest, TLP_LEVELS.index(tlp))
        attr = event.add_attribute(MISP_TYPES[kind], value, category=MISP_CATEGORY.get(kind, "Network activity"),
                                   to_ids=kind != "cve", comment=f"{stix_id}" + (" (ethereum wallet)" if kind == "eth" else ""))
        attr.add_tag(f"tlp:{tlp}")
        if handling["no_further_dissemination"]:
            attr.add_tag("cyberfusion:no-further-dissemination")
    event.add_tag(f"tlp:{TLP_LEVELS[strictest]}")
    event.add_tag(f'cyberfusion:exported-by="{org_name}"')
    return event.to_json(indent=2)


def write_csv(out: TextIO, rows: Iterable[tuple[str, str, str, dict[str, Any]]]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["kind", "value", "stix_id", "tlp", "purposes", "no_further_dissemination"])
    n = 0
    for kind, value, stix_id, handling in rows:
        writer.writerow([kind, value, stix_id, handling["tlp"], ";".join(handling["purposes"]),
                         str(handling["no_further_dissemination"]).lower()])
        n += 1
    return n


def write_blocklist(out: TextIO, values: Iterable[str]) -> int:
    n = 0
    for v in values:
        out.write(v + "\n")
        n += 1
    return n
