"""Handling as a partner states it (TLP, restrictions, purposes, attribution, retention),
validated and turned into the stored ``Handling`` row."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.errors import InvalidInput
from cyberfusion.intel import repository
from cyberfusion.kit.regions import country_code
from cyberfusion.partners.models import CATEGORIES, ORG_KINDS
from cyberfusion.sharing.markings import (ATTRIBUTION_MODES, PURPOSES, TLP_LEVELS, purposes_mask,
                                          purposes_of, tlp_level)
from cyberfusion.sharing.models import Handling
from cyberfusion.sharing.policy import kinds_mask

DEFAULT_PURPOSES = ("investigation", "victim_notification", "network_defence", "threat_reporting")


@dataclass(frozen=True)
class HandlingSpec:
    tlp: str = "amber"
    purposes: tuple[str, ...] = DEFAULT_PURPOSES
    allowed_countries: tuple[str, ...] = ()
    denied_countries: tuple[str, ...] = ()
    allowed_kinds: tuple[str, ...] = ()
    le_only: bool = False
    recipients: tuple[int, ...] = ()  # organisation ids
    no_further_dissemination: bool = False
    attribution: str = "named"
    hit_reveal: bool = True
    # Contribution-level facts (not part of the shared Handling row).
    category: str | None = None
    review_at: datetime | None = None
    expires_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def validated(self) -> HandlingSpec:
        tlp = TLP_LEVELS[tlp_level(self.tlp)]
        purposes = tuple(sorted(set(self.purposes), key=PURPOSES.index)) if self.purposes else ()
        purposes_mask(list(purposes))
        if not purposes:
            raise InvalidInput("at least one permitted purpose is needed", field="purposes")
        for k in self.allowed_kinds:
            if k not in ORG_KINDS:
                raise InvalidInput(f"{k!r} is not one of: {', '.join(ORG_KINDS)}", field="allowed_kinds")
        if self.attribution not in ATTRIBUTION_MODES:
            raise InvalidInput(f"{self.attribution!r} is not one of: {', '.join(ATTRIBUTION_MODES)}",
                               field="attribution")
        if self.category is not None and self.category not in CATEGORIES:
            raise InvalidInput(f"{self.category!r} is not one of: {', '.join(CATEGORIES)}", field="category")
        if tlp == "red" and not self.recipients:
            raise InvalidInput("TLP:RED needs named recipient organisations", field="recipients")
        return replace(
            self, tlp=tlp, purposes=purposes,
            allowed_countries=tuple(sorted({country_code(c, field="allowed_countries") for c in self.allowed_countries})),
            denied_countries=tuple(sorted({country_code(c, field="denied_countries") for c in self.denied_countries})),
            allowed_kinds=tuple(sorted(set(self.allowed_kinds))), recipients=tuple(sorted(set(self.recipients))))

    def row_fields(self) -> dict[str, Any]:
        return {
            "tlp": tlp_level(self.tlp), "purposes": purposes_mask(list(self.purposes)),
            "allowed_countries": _csv(self.allowed_countries), "denied_countries": _csv(self.denied_countries),
            "allowed_kinds": kinds_mask(list(self.allowed_kinds)), "le_only": self.le_only,
            "recipients": _csv(str(r) for r in self.recipients),
            "no_further_dissemination": self.no_further_dissemination,
            "attribution": self.attribution, "hit_reveal": self.hit_reveal,
        }


def _csv(values: Any) -> str:
    values = list(values)
    return "," + ",".join(values) + "," if values else ""


def _split(value: str) -> tuple[str, ...]:
    return tuple(v for v in value.strip(",").split(",") if v)


def handling_row(session: Session, spec: HandlingSpec) -> Handling:
    """The stored row for these rules, shared by every contribution and object that has them."""
    fields = spec.row_fields()
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    row = repository.handling_by_digest(session, digest)
    if row is None:
        row = Handling(digest=digest, **fields)
        repository.add(session, row)
    return row


def describe(h: Handling) -> dict[str, Any]:
    """The handling of a row as people and exports read it."""
    return {
        "tlp": TLP_LEVELS[h.tlp], "purposes": purposes_of(h.purposes),
        "allowed_countries": list(_split(h.allowed_countries)),
        "denied_countries": list(_split(h.denied_countries)),
        "allowed_kinds": [k for i, k in enumerate(ORG_KINDS) if h.allowed_kinds & (1 << i)],
        "law_enforcement_only": h.le_only,
        "recipients": [int(r) for r in _split(h.recipients)],
        "no_further_dissemination": h.no_further_dissemination,
        "attribution": h.attribution, "hit_reveal": h.hit_reveal,
    }


def spec_of(h: Handling) -> HandlingSpec:
    d = describe(h)
    return HandlingSpec(tlp=d["tlp"], purposes=tuple(d["purposes"]), allowed_countries=tuple(d["allowed_countries"]),
                        denied_countries=tuple(d["denied_countries"]), allowed_kinds=tuple(d["allowed_kinds"]),
                        le_only=h.le_only, recipients=tuple(d["recipients"]),
                        no_further_dissemination=h.no_further_dissemination, attribution=h.attribution,
                        hit_reveal=h.hit_reveal)


__all__ = ["HandlingSpec", "handling_row", "describe", "spec_of", "DEFAULT_PURPOSES"]
