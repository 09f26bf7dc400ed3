"""Which collections exist and what each one holds, as data.

A collection is a *membership* filter (TLP levels, crime categories, source regions,
STIX types, or "my organisation's own") applied on top of the policy filter — never
instead of it — plus the purpose its readers read for and, for writable collections,
the handling that contributions posted to it get.

Built-in collections, in the one API root ``cfc``:
  * ``all``: everything the viewer may read;
  * ``tlp-clear`` … ``tlp-red``: one per TLP 2.0 level of the effective handling;
  * ``crime-<category>``: one per crime category of the contribution;
  * ``region-<region>``: one per region of the contributing organisation (a contribution
    whose attribution is ``anonymous`` is in no region collection, except for its owner:
    its region would say who sent it);
  * ``inbox``: the viewer's own organisation's contributions; the one writable built-in.
Administrators add more (``cfc taxii collection add``), e.g. an investigation-purpose feed.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from cyberfusion.errors import InvalidInput, NotFound
from cyberfusion.kit.regions import REGIONS, region_name
from cyberfusion.partners.models import CATEGORIES
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.sharing.markings import PURPOSES, TLP_LEVELS, tlp_level
from cyberfusion.sharing.viewer import Viewer

API_ROOT = "cfc"
DEFAULT_PURPOSE = "network_defence"
COLLECTION_NS = uuid.UUID("2f0f6f5e-5a38-4c4e-9b3c-6b9a3f3f0c21")
_ALIAS_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
CONTRIBUTE_ROLES = ("contributor", "analyst")


@dataclass(frozen=True, slots=True)
class Membership:
    """What a collection holds, on top of what the policy lets the viewer read."""

    tlp: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    own_only: bool = False


@dataclass(frozen=True, slots=True)
class CollectionDef:
    id: str
    alias: str
    title: str
    description: str
    purpose: str
    membership: Membership
    can_write: bool = False
    handling: HandlingSpec | None = None
    builtin: bool = True
    media_types: tuple[str, ...] = field(default=("application/stix+json;version=2.1",))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _builtin(alias: str, title: str, description: str, membership: Membership) -> CollectionDef:
    return CollectionDef(id=str(uuid.uuid5(COLLECTION_NS, alias)), alias=alias, title=title,
                         description=description, purpose=DEFAULT_PURPOSE, membership=membership)


def _builtins() -> tuple[CollectionDef, ...]:
    out = [_builtin("all", "All intelligence", "Everything your organisation may read for network defence.",
                    Membership())]
    for level, name in enumerate(TLP_LEVELS):
        out.append(_builtin(f"tlp-{_slug(name)}", f"TLP:{name.upper()}",
                            f"Intelligence whose effective handling is TLP:{name.upper()}.", Membership(tlp=(level,))))
    for category in CATEGORIES:
        label = category.replace("_", " ")
        out.append(_builtin(f"crime-{_slug(category)}", f"Crime type: {label}",
                            f"Contributions categorised as {label}.", Membership(categories=(category,))))
    for region in REGIONS:
        out.append(_builtin(f"region-{_slug(region)}", f"Source region: {region}",
                            f"Contributed by organisations in {region} (attributed contributions only).",
                            Membership(regions=(region,))))
    return tuple(out)


BUILTINS = _builtins()
_BY_KEY = {c.id: c for c in BUILTINS} | {c.alias: c for c in BUILTINS}


def inbox(viewer: Viewer) -> CollectionDef:
    """The viewer's organisation's own collection: what it contributed, and where it posts."""
    purpose = DEFAULT_PURPOSE if DEFAULT_PURPOSE in viewer.agreement_purposes else next(
        (p for p in PURPOSES if p in viewer.agreement_purposes), DEFAULT_PURPOSE)
    return CollectionDef(id=str(uuid.uuid5(COLLECTION_NS, f"inbox:{viewer.org_id}")), alias="inbox",
                         title=f"Inbox of {viewer.org_name}",
                         description="Your organisation's own contributions; post here to contribute.",
                         purpose=purpose, membership=Membership(own_only=True), can_write=True,
                         handling=HandlingSpec())


def from_row(row: Any) -> CollectionDef:
    f = row.filters or {}
    return CollectionDef(
        id=row.id, alias=row.alias, title=row.title, description=row.description or "", purpose=row.purpose,
        membership=Membership(tlp=tuple(f.get("tlp", ())), categories=tuple(f.get("categories", ())),
                              regions=tuple(f.get("regions", ())), types=tuple(f.get("types", ()))),
        can_write=row.can_write, handling=handling_from_json(row.handling) if row.can_write else None,
        builtin=False)


def may_read(viewer: Viewer, c: CollectionDef) -> bool:
    return viewer.may_receive and c.purpose in viewer.agreement_purposes


def may_write(viewer: Viewer, c: CollectionDef) -> bool:
    return c.can_write and viewer.may_contribute and viewer.has_role(*CONTRIBUTE_ROLES)


def visible(viewer: Viewer, custom: list[CollectionDef]) -> list[CollectionDef]:
    """The collections this viewer sees listed: readable ones, and its writable inbox."""
    own = inbox(viewer)
    listed = [c for c in (*BUILTINS, *custom) if may_read(viewer, c)]
    if may_read(viewer, own) or may_write(viewer, own):
        listed.append(own)
    return listed


def find(viewer: Viewer, key: str, custom: list[CollectionDef]) -> CollectionDef:
    """A listed collection by id or alias; NotFound for anything else (nothing is revealed)."""
    for c in visible(viewer, custom):
        if key in (c.id, c.alias):
            return c
    raise NotFound(f"no collection {key!r}")


def builtin(key: str) -> CollectionDef | None:
    return _BY_KEY.get(key)


# --- validation of administrator input ----------------------------------------------------------

def validate_filters(*, tlp: list[str], categories: list[str], regions: list[str],
                     types: list[str]) -> dict[str, Any]:
    for c in categories:
        if c not in CATEGORIES:
            raise InvalidInput(f"{c!r} is not one of: {', '.join(CATEGORIES)}", field="categories")
    for t in types:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,248}[a-z0-9]", t):
            raise InvalidInput(f"{t!r} is not a STIX type name", field="types")
    return {"tlp": sorted({tlp_level(t) for t in tlp}), "categories": sorted(set(categories)),
            "regions": sorted({region_name(r) for r in regions}), "types": sorted(set(types))}


def validate_alias(alias: str) -> str:
    alias = alias.strip().lower()
    if not _ALIAS_RE.fullmatch(alias) or alias in _BY_KEY or alias == "inbox":
        raise InvalidInput(f"{alias!r} must be 2-63 characters of a-z, 0-9 and '-', and not a built-in alias",
                           field="alias")
    return alias


def validate_purpose(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise InvalidInput(f"unknown purpose {purpose!r}; one of: {', '.join(PURPOSES)}", field="purpose")
    return purpose


_SPEC_FIELDS = ("tlp", "purposes", "allowed_countries", "denied_countries", "allowed_kinds", "le_only",
                "recipients", "no_further_dissemination", "attribution", "hit_reveal", "category")


def handling_to_json(spec: HandlingSpec) -> dict[str, Any]:
    spec = spec.validated()
    out: dict[str, Any] = {}
    for name in _SPEC_FIELDS:
        value = getattr(spec, name)
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def handling_from_json(data: dict[str, Any] | None) -> HandlingSpec:
    data = data or {}
    kw: dict[str, Any] = {}
    for name in _SPEC_FIELDS:
        if name in data:
            kw[name] = tuple(data[name]) if isinstance(data[name], list) else data[name]
    return HandlingSpec(**kw)
