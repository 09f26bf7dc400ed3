"""Geographically spread demo intelligence for country reports and trends, added through the
same import pipeline partners use (``import_file``), deterministically (seeded).

Six partners report every crime type over five months across countries of every region
(so trend cells pass the k-threshold), with roles (C2, phishing, malware hosting,
compromised hosts), victims, mule accounts, fraud phones, campaigns, courses of action and
a phishing spike in Africa; three partners add items under "no further dissemination", so
reports show what was withheld. Call after ``cyberfusion.demo.load_demo`` (it uses its
organisations).
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import phonenumbers
from sqlalchemy.orm import Session
from stdnum import iban as stdnum_iban

from cyberfusion.config import get_settings
from cyberfusion.errors import InvalidInput
from cyberfusion.ingest.pipeline import import_file
from cyberfusion.kit.observables import normalise, to_pattern
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.products import geo
from cyberfusion.sharing.handling import HandlingSpec

SEED = 20261010
NS = uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")
START = datetime(2026, 6, 1, tzinfo=UTC)
WEEKS = 24
# Countries of every region; the first of each list has a national bureau in the demo.
COUNTRIES = {
    "Europe": ["FR", "DE", "GB", "NL", "PL"],
    "Africa": ["NG", "KE", "ZA", "GH"],
    "Americas": ["US", "BR", "AR", "CA", "MX"],
    "Asia & South Pacific": ["JP", "AU", "IN", "SG"],
    "Middle East & North Africa": ["EG", "SA", "AE", "MA"],
}
NCB_COUNTRIES = ("FR", "DE", "NG", "KE", "BR", "US", "JP", "AU", "EG", "SA", "AR")
CAPITALS = {"FR": "Paris", "DE": "Berlin", "GB": "London", "NL": "Amsterdam", "PL": "Warsaw", "NG": "Lagos",
            "KE": "Nairobi", "ZA": "Johannesburg", "GH": "Accra", "US": "Chicago", "BR": "São Paulo",
            "AR": "Buenos Aires", "CA": "Toronto", "MX": "Monterrey", "JP": "Osaka", "AU": "Sydney",
            "IN": "Pune", "SG": "Singapore", "EG": "Cairo", "SA": "Riyadh", "AE": "Dubai", "MA": "Casablanca"}
IBAN_BBANS = {"FR": "3000600001{:011d}89", "DE": "37040044{:010d}", "GB": "MERI601613{:08d}",
              "NL": "ABNA{:010d}", "SA": "80{:018d}", "AE": "033{:016d}", "BR": "00360305{:05d}000979549P1"}
# (organisation, member to create, handling)
PARTNERS = [
    ("Bluewall Security", "feeds@bluewall.example", HandlingSpec(tlp="green", attribution="named")),
    ("Orchid Threat Research", "feeds@orchid.example", HandlingSpec(tlp="amber", attribution="sector")),
    ("Karoo Cyber Defence", "feeds@karoo.example", HandlingSpec(tlp="green", attribution="anonymous")),
    ("Gulf Commerce Bank", "fraud@gulfcommerce.example", HandlingSpec(tlp="amber", attribution="sector")),
    ("Sahel Mobile", "fraud@sahelmobile.example", HandlingSpec(tlp="green", attribution="named")),
    ("Pacific Union Bank", "fraud@pacificunion.example", HandlingSpec(tlp="amber", attribution="sector")),
]
NFD_PARTNERS = ("Northbridge Datacentres", "Andes Payments", "Pacific Union Bank")
CRIMES = ("phishing", "bec", "ransomware", "fraud", "cryptojacking", "malware", "ddos", "botnet")
# Crime types reported by three partners each (k = 3: fewer would leave their trend cells hidden).
FEWER_REPORTERS = {
    "investment_scam": ("Gulf Commerce Bank", "Pacific Union Bank", "Sahel Mobile"),
    "sextortion": ("Sahel Mobile", "Pacific Union Bank", "Gulf Commerce Bank"),
    "data_breach": ("Bluewall Security", "Orchid Threat Research", "Karoo Cyber Defence"),
}
MALWARE = {"ransomware": ["LockBit", "BlackCat"], "malware": ["QakBot", "AsyncRAT"], "botnet": ["Mirai"],
           "cryptojacking": ["XMRig loader"], "ddos": ["Mirai"], "phishing": ["EvilProxy kit"],
           "bec": ["BEC kit"], "fraud": ["FluBot"], "investment_scam": ["FluBot"], "sextortion": ["FluBot"],
           "data_breach": ["AsyncRAT"]}
CVES = {"LockBit": "CVE-2023-4966", "BlackCat": "CVE-2021-44228", "QakBot": "CVE-2023-23397",
        "Mirai": "CVE-2023-1389"}
WORDS = ["secure", "login", "account", "verify", "pay", "wallet", "support", "cloud", "mail", "parcel",
         "invoice", "portal", "track", "bonus", "tax", "refund"]


def _networks(wanted: set[str]) -> dict[str, list[tuple[int, int]]]:
    """/16 networks of each wanted country, found on a coarse grid of the IPv4 space."""
    nets: dict[str, list[tuple[int, int]]] = {c: [] for c in wanted}
    for a in range(1, 224):
        if a in (10, 100, 127, 169, 172, 192):
            continue
        for b in range(0, 256, 3):
            loc = geo.locate_ip(f"{a}.{b}.1.1")
            if loc is not None and loc.country in nets:
                nets[loc.country].append((a, b))
    return nets


class _Maker:
    def __init__(self, rng: random.Random, nets: dict[str, list[tuple[int, int]]]) -> None:
        self.rng, self.nets = rng, nets

    def ip(self, country: str) -> str | None:
        for _ in range(20):
            if not self.nets.get(country):
                return None
            a, b = self.rng.choice(self.nets[country])
            value = f"{a}.{b}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"
            loc = geo.locate_ip(value)
            if loc is not None and loc.country == country:
                return value
        return None

    def domain(self, country: str) -> str:
        tld = "uk" if country == "GB" else country.lower()
        return f"{self.rng.choice(WORDS)}-{self.rng.choice(WORDS)}{self.rng.randint(1, 999)}.{tld}"

    def iban(self, country: str) -> str | None:
        fmt = IBAN_BBANS.get(country)
        if fmt is None:
            return None
        bban = fmt.format(self.rng.randint(0, 99_999))
        try:
            return normalise("iban", country + stdnum_iban.calc_check_digits(country + "00" + bban) + bban)
        except InvalidInput:
            return None

    def phone(self, country: str) -> str | None:
        example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
        if example is None:
            return None
        for _ in range(10):
            candidate = phonenumbers.PhoneNumber(country_code=example.country_code,
                                                 national_number=example.national_number // 1000 * 1000
                                                 + self.rng.randint(0, 999))
            if phonenumbers.is_valid_number(candidate):
                return phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
        return None


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _sdo(otype: str, key: str, when: str, **props: Any) -> dict[str, Any]:
    return {"type": otype, "spec_version": "2.1", "id": f"{otype}--{uuid.uuid5(NS, key)}", "created": when,
            "modified": when, **props}


def _indicator(owner: str, kind: str, value: str, when: str, labels: list[str], confidence: int) -> dict[str, Any]:
    return _sdo("indicator", f"{owner}|{kind}|{value}", when, name=f"{kind} {value}", pattern=to_pattern(kind, value),
                pattern_type="stix", valid_from=when, indicator_types=["malicious-activity"], labels=labels,
                confidence=confidence)


def _rel(source: str, rtype: str, target: str, when: str) -> dict[str, Any]:
    return _sdo("relationship", f"{source}|{rtype}|{target}", when, relationship_type=rtype, source_ref=source,
                target_ref=target)


def _bundle(mk: _Maker, owner: str, crime: str, *, spike: bool, nfd: bool) -> list[dict[str, Any]]:
    rng = mk.rng
    objects: list[dict[str, Any]] = []
    first = _ts(START)
    threats = [_sdo("malware", name, first, name=name, is_family=True) for name in MALWARE[crime]]
    objects.extend(threats)
    for t in threats:
        cve = CVES.get(t["name"])
        if cve:
            vuln = _sdo("vulnerability", cve, first, name=cve)
            coa = _sdo("course-of-action", f"coa|{t['name']}", first, name=f"Mitigate {t['name']}",
                       description=f"Patch {cve} on internet-facing systems and block known {t['name']} "
                                   "infrastructure at the perimeter.")
            objects += [vuln, coa, _rel(t["id"], "exploits", vuln["id"], first),
                        _rel(coa["id"], "mitigates", t["id"], first)]
    campaign = _sdo("campaign", f"{owner}|{crime}", first, name=f"{crime.capitalize()} wave {rng.randint(10, 99)}")
    objects.append(campaign)
    regions = list(COUNTRIES)
    for week in range(WEEKS):
        n = rng.randint(2, 4) if not nfd else 1
        for _ in range(n):
            region = rng.choice(regions)
            country = rng.choice(COUNTRIES[region])
            _add_one(mk, objects, owner, crime, country, START + timedelta(weeks=week, hours=rng.randint(0, 150)),
                     threats)
        if spike and week == 19:  # 2026-W42: a phishing wave in Africa
            for _ in range(12):
                country = rng.choice(COUNTRIES["Africa"])
                _add_one(mk, objects, owner, crime, country,
                         START + timedelta(weeks=week, hours=rng.randint(0, 150)), threats)
    if nfd:  # held back from every national bureau's October report
        for country in NCB_COUNTRIES:
            _add_one(mk, objects, owner, crime, country, datetime(2026, 10, 12, tzinfo=UTC), threats)
    for i in range(2 if not nfd else 0):
        country = rng.choice([c for cs in COUNTRIES.values() for c in cs])
        when = _ts(START + timedelta(weeks=rng.randint(8, WEEKS - 1)))
        victim = _sdo("identity", f"victim|{owner}|{crime}|{i}", when,
                      name=f"{rng.choice(['City General Hospital', 'Metro Water Utility', 'Coastal Savings Bank', 'National Freight Lines', 'Unity Microfinance'])}, {CAPITALS[country]}",
                      identity_class="organization",
                      sectors=[rng.choice(["healthcare", "utilities", "financial-services", "transportation"])])
        location = _sdo("location", f"country|{country}", _ts(START), country=country)
        objects += [victim, location, _rel(victim["id"], "located-at", location["id"], when),
                    _rel(campaign["id"], "targets", victim["id"], when)]
    return objects


def _add_one(mk: _Maker, objects: list[dict[str, Any]], owner: str, crime: str, country: str, at: datetime,
             threats: list[dict[str, Any]]) -> None:
    rng = mk.rng
    when = _ts(at)
    r = rng.random()
    value: str | None
    if crime in ("bec", "fraud", "investment_scam", "sextortion") and r < 0.5:
        kind, value, labels = ("iban", mk.iban(country), ["mule"]) if r < 0.25 else ("phone", mk.phone(country), [])
    elif r < 0.55:
        kind, value = "ipv4-addr", mk.ip(country)
        labels = [rng.choice(["c2", "compromised"] if crime in ("botnet", "ddos", "cryptojacking", "malware")
                             else ["c2", "malware-hosting", "phishing"])]
    elif r < 0.8:
        kind, value, labels = "domain-name", mk.domain(country), ["phishing"] if crime == "phishing" else []
    else:
        kind = "url"
        host = mk.ip(country) if rng.random() < 0.5 else mk.domain(country)
        value = f"http://{host}/{rng.choice(WORDS)}/{rng.randint(1, 9999)}" if host else None
        labels = ["phishing" if crime in ("phishing", "bec") else "malware-hosting"]
    if value is None:
        kind, value, labels = "domain-name", mk.domain(country), []
    ind = _indicator(owner, kind, value, when, labels + [crime], rng.choice([40, 60, 75, 85, 95]))
    objects.append(ind)
    if threats and rng.random() < 0.3:
        objects.append(_rel(ind["id"], "indicates", rng.choice(threats)["id"], when))


def load_products_demo(session: Session, *, quiet: bool = True) -> dict[str, int]:
    """Add the spread demo data (once: a second call adds nothing). Returns objects imported."""
    rng = random.Random(SEED)
    mk = _Maker(rng, _networks({c for cs in COUNTRIES.values() for c in cs}))
    work = Path(get_settings().data_dir) / "demo" / "products"
    work.mkdir(parents=True, exist_ok=True)
    added = {"contributions": 0, "objects": 0}
    jobs: list[tuple[str, str, HandlingSpec, str, bool]] = []
    for org_name, email, spec in PARTNERS:
        for crime in CRIMES:
            jobs.append((org_name, email, spec, crime, False))
    for org_name in NFD_PARTNERS:
        email = next((e for o, e, _s in PARTNERS if o == org_name), f"feeds@{org_name.split()[0].lower()}.example")
        jobs.append((org_name, email, HandlingSpec(tlp="green", no_further_dissemination=True), "malware", True))
    for crime, reporters in FEWER_REPORTERS.items():  # after the others: their data stays as it was
        jobs.extend((org, address, handling, crime, False) for org, address, handling in PARTNERS if org in reporters)
    for org_name, email, spec, crime, nfd in jobs:
        org = partners_repo.org_by_name(session, org_name)
        if org is None:
            raise InvalidInput(f"demo organisation {org_name!r} missing: load the main demo first", field="demo")
        member = partners_repo.member_by_email(session, email) or partners.add_member(
            session, email=email, name=f"{org_name} feeds", org=org, roles=["contributor"])
        objects = _bundle(mk, org_name, crime, spike=crime == "phishing" and not nfd, nfd=nfd)
        path = work / f"{org_name.lower().replace(' ', '-')}-{crime}{'-nfd' if nfd else ''}.json"
        path.write_text(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid5(NS, path.name)}",
                                    "objects": objects}))
        viewer = partners.resolve_viewer(session, member)
        result = import_file(session, viewer=viewer, path=path, fmt="stix",
                             spec=HandlingSpec(**{**spec.__dict__, "category": crime}))
        if result.created:
            added["contributions"] += 1
            added["objects"] += result.objects
    if not quiet:
        from cyberfusion.clikit import err_console
        err_console.print(f"  products demo: {added['contributions']} contributions, {added['objects']} objects")
    return added
