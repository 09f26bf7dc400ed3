"""A believable fusion centre, generated deterministically (seeded) and loaded once.

Organisations across the five regions and every kind and sector, members for every
role, secondments (one lapsed, one unsigned), agreements (one expired), and ~50k
indicators from several partners under varied handling, imported through the same
pipeline partners use.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from cyberfusion.config import get_settings
from cyberfusion.db import make_sessionmaker, transaction, utcnow
from cyberfusion.ingest.pipeline import import_file
from cyberfusion.intel.models import StixObject
from cyberfusion.kit.observables import to_pattern
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.partners.models import CATEGORIES, Member
from cyberfusion.sharing.handling import HandlingSpec

SEED = 20261126
PASSWORD = "demo-password"
DEMO_NS = uuid.UUID("3f0b8e8e-6f3e-4a7c-9d0c-1c2b3a4d5e6f")
ALL_PURPOSES = ["investigation", "victim_notification", "network_defence", "research", "threat_reporting",
                "ai_processing"]

# (name, kind, sector, country)
ORGS = [
    ("Cyber Fusion Centre", "host_centre", None, "SG"),
    ("NCB Lyon", "national_bureau", None, "FR"), ("NCB Wiesbaden", "national_bureau", None, "DE"),
    ("NCB Abuja", "national_bureau", None, "NG"), ("NCB Nairobi", "national_bureau", None, "KE"),
    ("NCB Brasilia", "national_bureau", None, "BR"), ("NCB Washington", "national_bureau", None, "US"),
    ("NCB Tokyo", "national_bureau", None, "JP"), ("NCB Canberra", "national_bureau", None, "AU"),
    ("NCB Cairo", "national_bureau", None, "EG"), ("NCB Riyadh", "national_bureau", None, "SA"),
    ("NCB Buenos Aires", "national_bureau", None, "AR"),
    ("National Cyber Crime Unit", "law_enforcement", None, "GB"),
    ("Cybercrime Investigation Division", "law_enforcement", None, "KR"),
    ("Federal Cyber Police", "law_enforcement", None, "CA"),
    ("Economic Crimes Unit", "law_enforcement", None, "ZA"),
    ("Sentinel Vector Labs", "private", "internet_security", "FI"),
    ("Bluewall Security", "private", "internet_security", "US"),
    ("Orchid Threat Research", "private", "internet_security", "SG"),
    ("Karoo Cyber Defence", "private", "internet_security", "ZA"),
    ("First Meridian Bank", "private", "financial", "GB"),
    ("Gulf Commerce Bank", "private", "financial", "AE"),
    ("Pacific Union Bank", "private", "financial", "AU"),
    ("Andes Payments", "private", "financial", "CL"),
    ("Meridian Telecom", "private", "telecom", "DE"),
    ("Sahel Mobile", "private", "telecom", "SN"),
    ("Northbridge Datacentres", "private", "other", "NL"),
    ("Institute for Cyber Security Studies", "academia", None, "NL"),
    ("University of Cape Cyber Lab", "academia", None, "ZA"),
    ("Regional Police Cooperation Organisation", "international", None, "AT"),
    ("Ocean Crimes Network", "international", None, "MU"),
    ("Quickprofit Analytics", "private", "other", "PA"),  # vetting rejected
    ("Nova Ledger Exchange", "private", "financial", "MT"),  # vetting pending
]
REJECTED, PENDING = "Quickprofit Analytics", "Nova Ledger Exchange"
EXPIRED_AGREEMENT = "Ocean Crimes Network"

# (role label, e-mail, organisation, roles)
LOGINS = [
    ("host-centre analyst", "analyst@cfc.example", "Cyber Fusion Centre", ["analyst", "contributor"]),
    ("seconded expert (bank, in term)", "expert@cfc.example", "Cyber Fusion Centre", ["analyst"]),
    ("seconded expert (term ended)", "expert.lapsed@cfc.example", "Cyber Fusion Centre", ["analyst"]),
    ("seconded expert (no acknowledgement)", "expert.unsigned@cfc.example", "Cyber Fusion Centre", ["analyst"]),
    ("national bureau officer (FR)", "officer@ncb-lyon.example", "NCB Lyon", ["analyst", "contributor"]),
    ("national bureau officer (NG)", "officer@ncb-abuja.example", "NCB Abuja", ["analyst", "contributor"]),
    ("private partner contributor (internet security)", "contributor@sentinel-vector.example",
     "Sentinel Vector Labs", ["contributor", "reader"]),
    ("private partner contributor (financial)", "contributor@first-meridian.example", "First Meridian Bank",
     ["contributor", "reader"]),
    ("private partner contributor (telecom)", "contributor@meridian-telecom.example", "Meridian Telecom",
     ["contributor", "reader"]),
    ("academic reader", "reader@icss.example", "Institute for Cyber Security Studies", ["reader"]),
    ("organisation admin (bank)", "orgadmin@first-meridian.example", "First Meridian Bank", ["org_admin"]),
    ("platform admin", "admin@cfc.example", "Cyber Fusion Centre", ["platform_admin"]),
    ("auditor", "auditor@cfc.example", "Cyber Fusion Centre", ["auditor"]),
]

MALWARE = ["Emotet", "QakBot", "IcedID", "LockBit", "BlackCat", "Agent Tesla", "RedLine Stealer", "Mirai",
           "AsyncRAT", "Cobalt Strike", "FluBot", "SocGholish"]
TLDS = ["com", "net", "org", "info", "top", "xyz", "ru", "cn", "br", "ng", "de", "fr", "co.uk", "com.au", "in"]
WORDS = ["secure", "login", "account", "verify", "update", "bank", "pay", "wallet", "support", "cloud",
         "mail", "delivery", "invoice", "office", "portal", "service", "track", "help", "alert", "id"]


def _ipv4(rng: random.Random) -> str:
    while True:
        a = rng.randint(1, 223)
        if a not in (10, 127, 169, 172, 192, 100):
            return f"{a}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _domain(rng: random.Random) -> str:
    return f"{rng.choice(WORDS)}-{rng.choice(WORDS)}{rng.randint(1, 9999)}.{rng.choice(TLDS)}"


def _value(rng: random.Random) -> tuple[str, str]:
    r = rng.random()
    if r < 0.35:
        return "ipv4-addr", _ipv4(rng)
    if r < 0.60:
        return "domain-name", _domain(rng)
    if r < 0.75:
        return "url", f"http://{_domain(rng)}/{rng.choice(WORDS)}/{rng.randint(1, 99999)}.php"
    if r < 0.85:
        return "sha256", f"{rng.getrandbits(256):064x}"
    if r < 0.90:
        return "md5", f"{rng.getrandbits(128):032x}"
    if r < 0.94:
        return "email-addr", f"{rng.choice(WORDS)}.{rng.randint(1, 999)}@{_domain(rng)}"
    if r < 0.97:
        import base58
        return "btc", base58.b58encode_check(b"\x00" + rng.randbytes(20)).decode()
    from stdnum import iban
    bban = f"MERI{rng.randint(0, 10**14 - 1):014d}"
    return "iban", "GB" + iban.calc_check_digits("GB00" + bban) + bban


def _bundle(rng: random.Random, *, owner: str, identity_id: str, count: int, shared: list[tuple[str, str]],
            category: str) -> dict[str, Any]:
    created = "2026-10-01T00:00:00.000Z"
    malware = [{"type": "malware", "spec_version": "2.1", "id": f"malware--{uuid.uuid5(DEMO_NS, m)}",
                "created": created, "modified": created, "name": m, "is_family": True,
                "created_by_ref": identity_id} for m in rng.sample(MALWARE, 4)]
    objects: list[dict[str, Any]] = [{"type": "identity", "spec_version": "2.1", "id": identity_id,
                                      "created": created, "modified": created, "name": owner,
                                      "identity_class": "organization"}, *malware]
    for i in range(count):
        kind, value = shared[i % len(shared)] if i % 50 == 0 and shared else _value(rng)
        day = rng.randint(0, 55)
        ts = f"2026-{9 + day // 30:02d}-{1 + day % 30:02d}T{rng.randint(0, 23):02d}:00:00.000Z"
        ind_id = f"indicator--{uuid.uuid5(DEMO_NS, f'{owner}|{kind}|{value}|{i}')}"
        objects.append({"type": "indicator", "spec_version": "2.1", "id": ind_id, "created": ts, "modified": ts,
                        "name": f"{category} {kind} {value}"[:200], "indicator_types": ["malicious-activity"],
                        "pattern": to_pattern(kind, value), "pattern_type": "stix", "valid_from": ts,
                        "confidence": rng.choice([30, 50, 70, 85, 95]), "labels": [category],
                        "created_by_ref": identity_id})
        if i % 10 == 0:
            m = rng.choice(malware)
            objects.append({"type": "relationship", "spec_version": "2.1",
                            "id": f"relationship--{uuid.uuid5(DEMO_NS, ind_id + m['id'])}", "created": ts,
                            "modified": ts, "relationship_type": "indicates", "source_ref": ind_id,
                            "target_ref": m["id"], "created_by_ref": identity_id})
    return {"type": "bundle", "id": f"bundle--{uuid.uuid5(DEMO_NS, owner)}", "objects": objects}


# (contributing org, member, share of the indicators, handling)
CONTRIBUTIONS = [
    ("Sentinel Vector Labs", "contributor@sentinel-vector.example", 0.30,
     HandlingSpec(tlp="green", purposes=tuple(ALL_PURPOSES), attribution="named", category="malware")),
    ("First Meridian Bank", "contributor@first-meridian.example", 0.20,
     HandlingSpec(tlp="amber", purposes=("investigation", "victim_notification", "threat_reporting"),
                  attribution="sector", allowed_kinds=("law_enforcement", "national_bureau", "host_centre",
                                                       "international"), category="phishing")),
    ("Meridian Telecom", "contributor@meridian-telecom.example", 0.15,
     HandlingSpec(tlp="amber", purposes=("network_defence", "investigation", "research"), attribution="anonymous",
                  denied_countries=("RU",), category="fraud")),
    ("NCB Lyon", "officer@ncb-lyon.example", 0.15,
     HandlingSpec(tlp="amber+strict", purposes=("investigation",), le_only=True, hit_reveal=False,
                  no_further_dissemination=True, category="ransomware")),
    ("NCB Abuja", "officer@ncb-abuja.example", 0.10,
     HandlingSpec(tlp="green", purposes=("investigation", "victim_notification", "threat_reporting"),
                  allowed_countries=("NG", "KE", "ZA", "SN", "GB", "FR", "SG"), category="bec")),
    ("Cyber Fusion Centre", "analyst@cfc.example", 0.10,
     HandlingSpec(tlp="clear", purposes=tuple(ALL_PURPOSES), category="malware")),
]


def _already_loaded(session: Any) -> bool:
    return partners_repo.member_by_email(session, "analyst@cfc.example") is not None


def load_demo(engine: Engine, *, indicators: int = 50_000, quiet: bool = False) -> dict[str, Any]:
    """Load the demo (once; a second call only reports). Everything in one transaction."""
    factory = make_sessionmaker(engine)
    loaded_now = False
    with transaction(factory) as session:
        if not _already_loaded(session):
            _load(session, indicators=indicators, quiet=quiet)
            loaded_now = True
    with transaction(factory) as session:
        orgs = len(partners_repo.list_orgs(session))
        members = session.scalar(select(func.count()).select_from(Member))
        objects = session.scalar(select(func.count()).select_from(StixObject))
    logins = [{"role": role, "email": email, "password": PASSWORD, "organisation": org}
              for role, email, org, _ in LOGINS]
    return {"organisations": orgs, "members": members, "objects": objects, "loaded_now": loaded_now,
            "logins": logins}


def _load(session: Any, *, indicators: int, quiet: bool) -> None:
    rng = random.Random(SEED)
    today = date.today()
    orgs = {}
    for name, kind, sector, country in ORGS:
        orgs[name] = partners_repo.org_by_name(session, name) or partners.create_organisation(
            session, name=name, kind=kind, sector=sector, country=country)
        if kind != "host_centre":
            decision = "rejected" if name == REJECTED else "pending" if name == PENDING else "approved"
            if decision != "pending":
                partners.vet_organisation(session, org=orgs[name], decision=decision, reviewer="admin@cfc.example",
                                          notes="demo due diligence", today=today - timedelta(days=200))
            if decision == "approved":
                expired = name == EXPIRED_AGREEMENT
                partners.add_agreement(
                    session, org=orgs[name], reference=f"DSA-{orgs[name].id:03d}",
                    valid_from=today - timedelta(days=700 if expired else 180),
                    valid_until=today - timedelta(days=30) if expired else today + timedelta(days=550),
                    tlp_ceiling="amber+strict" if kind in ("national_bureau", "law_enforcement") else "amber",
                    contribute=list(CATEGORIES), receive=list(CATEGORIES),
                    purposes=ALL_PURPOSES if kind != "academia" else ["research"])
    members = {}
    for _role, email, org, roles in LOGINS:
        members[email] = partners.add_member(session, email=email, name=email.split("@")[0].replace(".", " ").title(),
                                             org=orgs[org], roles=roles, password=PASSWORD)
    now = utcnow()
    bank = orgs["First Meridian Bank"]
    partners.add_secondment(session, member=members["expert@cfc.example"], seconding_org=bank,
                            start=today - timedelta(days=90), scope="Financial fraud and BEC analysis",
                            agreement_reference="RAA-2026-014", acknowledged_at=now)
    partners.add_secondment(session, member=members["expert.lapsed@cfc.example"],
                            seconding_org=orgs["Sentinel Vector Labs"], start=today - timedelta(days=500),
                            end=today - timedelta(days=135), scope="Botnet takedown support",
                            agreement_reference="RAA-2025-003", acknowledged_at=now - timedelta(days=500))
    partners.add_secondment(session, member=members["expert.unsigned@cfc.example"],
                            seconding_org=orgs["Meridian Telecom"], start=today - timedelta(days=5),
                            scope="SIM-swap fraud", agreement_reference="RAA-2026-021")
    shared = [_value(rng) for _ in range(200)]  # infrastructure several partners report
    work_dir = Path(get_settings().data_dir) / "demo"
    work_dir.mkdir(parents=True, exist_ok=True)
    for org_name, email, share, spec in CONTRIBUTIONS:
        org = orgs[org_name]
        count = max(1, int(indicators * share))
        bundle = _bundle(rng, owner=org_name, identity_id=org.identity_id, count=count, shared=shared,
                         category=spec.category or "other")
        path = work_dir / f"{org_name.lower().replace(' ', '-')}.json"
        path.write_text(json.dumps(bundle))
        viewer = partners.resolve_viewer(session, members[email], today=today)
        if spec.tlp == "red" and not spec.recipients:
            spec = HandlingSpec(**{**spec.__dict__, "recipients": (orgs["Cyber Fusion Centre"].id,)})
        result = import_file(session, viewer=viewer, path=path, fmt="stix", spec=spec)
        if not quiet:
            from cyberfusion.clikit import err_console
            err_console.print(f"  {org_name}: {result.objects} objects, {result.observables} observables")
    from cyberfusion.tasking.demo import load_tasking_demo
    load_tasking_demo(session)
    from cyberfusion.products.demo import load_products_demo
    load_products_demo(session, quiet=quiet)
