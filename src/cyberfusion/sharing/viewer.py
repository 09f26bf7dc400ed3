"""Who is reading: a member acting for an organisation, resolved once per request or command."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class Viewer:
    member_id: int
    email: str
    roles: frozenset[str]
    # The organisation whose context the member acts in: the host centre for a seconded expert.
    org_id: int
    org_name: str
    org_kind: str
    org_sector: str | None
    org_country: str
    org_region: str
    # The seconded expert's own organisation; intelligence never flows to it through this viewer.
    home_org_id: int | None = None
    secondment_id: int | None = None
    # What the organisation's data-sharing agreement lets it receive (None: host centre, no limit).
    may_receive: bool = False
    may_contribute: bool = False
    tlp_ceiling: int = 0
    receive_categories: frozenset[str] | None = None
    contribute_categories: frozenset[str] | None = None
    agreement_purposes: frozenset[str] = field(default_factory=frozenset)
    today: date | None = None

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))
