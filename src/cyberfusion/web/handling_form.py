"""The handling form (TLP, restrictions, purposes, attribution, retention) ↔ HandlingSpec."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from starlette.datastructures import FormData

from cyberfusion.errors import InvalidInput
from cyberfusion.partners.models import CATEGORIES, ORG_KINDS
from cyberfusion.sharing.handling import DEFAULT_PURPOSES, HandlingSpec
from cyberfusion.sharing.markings import ATTRIBUTION_MODES, PURPOSES, TLP_LEVELS

DEFAULTS: dict[str, Any] = {
    "tlp": "amber", "purposes": list(DEFAULT_PURPOSES), "allowed_countries": "", "denied_countries": "",
    "allowed_kinds": [], "law_enforcement_only": False, "recipients": [], "no_further_dissemination": False,
    "attribution": "named", "hit_reveal": True, "category": "", "review_at": "", "expires_at": "",
}
CHOICES = {"tlps": TLP_LEVELS, "purposes": PURPOSES, "kinds": ORG_KINDS, "attributions": ATTRIBUTION_MODES,
           "categories": CATEGORIES}


def values_of(form: FormData) -> dict[str, Any]:
    """What the member entered, as the form shows it again."""
    return {
        "tlp": str(form.get("tlp") or "amber"),
        "purposes": [str(v) for v in form.getlist("purposes")],
        "allowed_countries": str(form.get("allowed_countries") or ""),
        "denied_countries": str(form.get("denied_countries") or ""),
        "allowed_kinds": [str(v) for v in form.getlist("allowed_kinds")],
        "law_enforcement_only": form.get("law_enforcement_only") == "yes",
        "recipients": [str(v) for v in form.getlist("recipients")],
        "no_further_dissemination": form.get("no_further_dissemination") == "yes",
        "attribution": str(form.get("attribution") or "named"),
        "hit_reveal": form.get("hit_reveal") == "yes",
        "category": str(form.get("category") or ""),
        "review_at": str(form.get("review_at") or ""),
        "expires_at": str(form.get("expires_at") or ""),
    }


def _countries(text: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in text.replace(";", ",").replace(" ", ",").split(",") if c.strip())


def _day(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
    except ValueError:
        raise InvalidInput(f"not a date (yyyy-mm-dd): {value!r}", field=field) from None


def to_spec(values: dict[str, Any]) -> HandlingSpec:
    """A validated HandlingSpec; an InvalidInput names the form field at fault."""
    try:
        recipients = tuple(int(r) for r in values["recipients"])
    except ValueError:
        raise InvalidInput("choose recipient organisations from the list", field="recipients") from None
    return HandlingSpec(
        tlp=values["tlp"], purposes=tuple(values["purposes"]),
        allowed_countries=_countries(values["allowed_countries"]),
        denied_countries=_countries(values["denied_countries"]), allowed_kinds=tuple(values["allowed_kinds"]),
        le_only=values["law_enforcement_only"], recipients=recipients,
        no_further_dissemination=values["no_further_dissemination"], attribution=values["attribution"],
        hit_reveal=values["hit_reveal"], category=values["category"] or None,
        review_at=_day(values["review_at"], "review_at"), expires_at=_day(values["expires_at"], "expires_at"),
    ).validated()
