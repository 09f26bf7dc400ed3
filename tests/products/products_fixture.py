"""A fixture dataset for country reports: known addresses, ccTLDs, IBAN, phone, victims, withheld items.

Built on the shared ``world`` (tests/conftest.py) through the real import pipeline.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from sharing.helpers import contribute

from cyberfusion.kit.observables import to_pattern
from cyberfusion.sharing.handling import HandlingSpec

NS = uuid.UUID("b6a3f1de-33c5-4d52-9a0e-2f2e6b1c7a40")
T = "2026-10-05T10:00:00.000Z"


def sid(kind: str, key: str) -> str:
    return f"{kind}--{uuid.uuid5(NS, key)}"


def ind(kind: str, value: str, *, labels=None, confidence=None, when: str = T, key: str = "") -> dict:
    obj = {"type": "indicator", "spec_version": "2.1", "id": sid("indicator", f"{kind}|{value}|{key}"),
           "created": when, "modified": when, "name": f"{kind} {value}", "pattern": to_pattern(kind, value),
           "pattern_type": "stix", "valid_from": when, "indicator_types": ["malicious-activity"]}
    if labels:
        obj["labels"] = labels
    if confidence is not None:
        obj["confidence"] = confidence
    return obj


def sdo(otype: str, name: str, **props) -> dict:
    return {"type": otype, "spec_version": "2.1", "id": sid(otype, name), "created": T, "modified": T,
            "name": name, **props}


def rel(source: str, rtype: str, target: str, when: str = T) -> dict:
    return {"type": "relationship", "spec_version": "2.1", "id": sid("relationship", f"{source}|{rtype}|{target}"),
            "created": when, "modified": when, "relationship_type": rtype, "source_ref": source,
            "target_ref": target}


C2_FR = ind("ipv4-addr", "62.4.1.1", labels=["c2"], confidence=80)
PHISH_FR = ind("url", "https://secure-login.example.fr/x.php", labels=["phishing"], confidence=70)
DOMAIN_FR = ind("domain-name", "evil-payload.fr", confidence=40)
C2_RU = ind("ipv4-addr", "5.255.255.5", labels=["c2"], confidence=90)
GENERIC = ind("domain-name", "nowhere.io", confidence=90)
PRIVATE = ind("ipv4-addr", "10.1.2.3", confidence=90)
OUTSIDE = ind("ipv4-addr", "212.27.48.10", confidence=90, when="2026-09-20T10:00:00.000Z")  # FR, September
WALLET = ind("btc", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", confidence=60)
EMOTET = sdo("malware", "Emotet", is_family=True)
CVE = sdo("vulnerability", "CVE-2023-23397")
COA = sdo("course-of-action", "Block Emotet command-and-control at the network edge",
          description="Add the listed C2 addresses to perimeter block lists.")
LOC_FR = {"type": "location", "spec_version": "2.1", "id": sid("location", "FR"), "created": T, "modified": T,
          "country": "FR"}
VICTIM = sdo("identity", "Banque Exemple SA", identity_class="organization", sectors=["financial-services"])
CAMPAIGN = sdo("campaign", "Operation Croissant")

VENDOR_OBJECTS = [C2_FR, PHISH_FR, DOMAIN_FR, C2_RU, GENERIC, PRIVATE, OUTSIDE, WALLET, EMOTET, CVE, COA, LOC_FR,
                  VICTIM, CAMPAIGN,
                  rel(C2_FR["id"], "indicates", EMOTET["id"]), rel(EMOTET["id"], "exploits", CVE["id"]),
                  rel(COA["id"], "mitigates", EMOTET["id"]), rel(WALLET["id"], "related-to", LOC_FR["id"]),
                  rel(VICTIM["id"], "located-at", LOC_FR["id"]), rel(CAMPAIGN["id"], "targets", VICTIM["id"])]
BANK_OBJECTS = [ind("ipv4-addr", "62.4.1.1", confidence=60, key="bank"),
                ind("url", "http://62.4.1.1/login", confidence=75),
                ind("iban", "FR7630006000011234567890189", confidence=85),
                ind("phone", "+33123456789", confidence=55)]
NFD_OBJECTS = [ind("domain-name", "nfd-only.fr", confidence=50)]
DENIED_OBJECTS = [ind("domain-name", "denied-fr.fr", confidence=50)]


def build(world, tmp_path: Path) -> None:
    contribute(world, tmp_path, "vendor", VENDOR_OBJECTS, HandlingSpec(tlp="green", category="malware"))
    contribute(world, tmp_path, "bank", BANK_OBJECTS,
               HandlingSpec(tlp="amber", category="phishing", attribution="sector"))
    contribute(world, tmp_path, "telco", NFD_OBJECTS,
               HandlingSpec(tlp="green", category="fraud", no_further_dissemination=True))
    contribute(world, tmp_path, "vendor", DENIED_OBJECTS,
               HandlingSpec(tlp="green", category="malware", denied_countries=("FR",)))
