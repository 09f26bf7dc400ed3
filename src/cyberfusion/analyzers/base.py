"""What an analyzer is: a class with a name, a version, an owner and a ``run`` method.

A partner plugs a tool in by writing a subclass of ``Analyzer`` and naming it in its
package's ``cyberfusion.analyzers`` entry points (see docs/analyzers.md). ``run`` gets one
normalised observable and returns an ``AnalyzerResult``: a short summary, a confidence and
STIX objects. The platform adds provenance, handling markings and storage; an analyzer
never sees who asked, under which handling, nor anything but the value.

The helpers below build STIX objects with deterministic ids, so that the same analyzer on
the same value produces the same objects (the store then keeps them once).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from cyberfusion.kit.observables import to_sco_type

# STIX 2.1's namespace for deterministic SCO ids (section 2.9), and ours for the rest.
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
NAMESPACE = uuid.UUID("3c1f7f9e-8a34-4f0e-9d7c-5b1a0e2d6c41")
# Timestamp of reference objects (identities, locations, vulnerabilities) that never change.
FIXED_TIME = "2020-01-01T00:00:00.000Z"


class AnalyzerError(Exception):
    """The analyzer could not produce a result; the message is shown as the run's error."""


class StoreView(Protocol):
    """Read-only, policy-filtered access to the store for analyzers that stay on the platform."""

    def linked(self, cve: str) -> list[dict[str, Any]]: ...

    def warninglists(self, kind: str, value: str) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Observable:
    """One normalised value (kit.observables vocabulary) handed to ``Analyzer.run``."""

    kind: str
    value: str
    # Only for analyzers without egress: what the requester may read, through the policy gate.
    store: StoreView | None = field(default=None, compare=False, repr=False)

    @property
    def ref(self) -> str:
        """The STIX id of the object that stands for this value (see ``subject``)."""
        return subject(self.kind, self.value)["id"]


@dataclass
class AnalyzerResult:
    summary: str
    confidence: int = 50
    objects: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"summary": self.summary, "confidence": self.confidence, "objects": self.objects,
                "data": self.data}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnalyzerResult:
        return cls(summary=d["summary"], confidence=d["confidence"], objects=list(d.get("objects") or []),
                   data=dict(d.get("data") or {}))


class Analyzer:
    """Subclass, set the class attributes, implement ``run``."""

    name: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str] = ""
    # Organisation (by name) that runs the tool and receives what is sent; None: the host centre.
    owner: ClassVar[str | None] = None
    accepts: ClassVar[frozenset[str]] = frozenset()
    # True when run() sends the value off the platform: the egress gate then applies.
    egress: ClassVar[bool] = False
    # At most this many calls per this many seconds (None: unlimited), across all workers.
    rate_limit: ClassVar[tuple[int, float] | None] = None
    timeout: ClassVar[float] = 10.0
    # True to receive Observable.store (policy-filtered reads as the requester); never with egress.
    reads_store: ClassVar[bool] = False

    def run(self, observable: Observable) -> AnalyzerResult:
        raise NotImplementedError


# --- STIX helpers --------------------------------------------------------------------------------

def stable_id(stix_type: str, *parts: str) -> str:
    return f"{stix_type}--{uuid.uuid5(NAMESPACE, '|'.join(parts))}"


def _sco(stix_type: str, props: dict[str, Any]) -> dict[str, Any]:
    canonical = json.dumps(props, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {"type": stix_type, "spec_version": "2.1",
            "id": f"{stix_type}--{uuid.uuid5(SCO_NAMESPACE, canonical)}", **props}


_HASH_KEYS = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha512": "SHA-512"}
_VALUE_PROPS = {"bank-account": "iban"}


def subject(kind: str, value: str) -> dict[str, Any]:
    """The STIX object for one observable: its SCO (or the vulnerability for a CVE)."""
    if kind == "cve":
        return {"type": "vulnerability", "spec_version": "2.1", "id": stable_id("vulnerability", value),
                "created": FIXED_TIME, "modified": FIXED_TIME, "name": value,
                "external_references": [{"source_name": "cve", "external_id": value}]}
    stix_type = to_sco_type(kind)
    if kind in _HASH_KEYS:
        return _sco(stix_type, {"hashes": {_HASH_KEYS[kind]: value}})
    if kind == "asn":
        return _sco(stix_type, {"number": int(value.removeprefix("AS"))})
    return _sco(stix_type, {_VALUE_PROPS.get(stix_type, "value"): value})


def sco(stix_type: str, **props: Any) -> dict[str, Any]:
    """Any SCO with its deterministic id (all given properties contribute to the id)."""
    return _sco(stix_type, props)


def relationship(source_ref: str, relationship_type: str, target_ref: str, **props: Any) -> dict[str, Any]:
    return {"type": "relationship", "spec_version": "2.1",
            "id": stable_id("relationship", source_ref, relationship_type, target_ref),
            "relationship_type": relationship_type, "source_ref": source_ref, "target_ref": target_ref, **props}


def country_location(code: str, name: str | None = None) -> dict[str, Any]:
    obj = {"type": "location", "spec_version": "2.1", "id": stable_id("location", "country", code),
           "created": FIXED_TIME, "modified": FIXED_TIME, "country": code}
    if name:
        obj["name"] = name
    return obj


__all__ = [
    "FIXED_TIME",
    "Analyzer",
    "AnalyzerError",
    "AnalyzerResult",
    "Observable",
    "StoreView",
    "country_location",
    "relationship",
    "sco",
    "stable_id",
    "subject",
]
