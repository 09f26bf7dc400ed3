"""What an item in a country report is (its role) and what the recipient should do about it.

Kept as data so analysts can read and change the rules in one place. The role is
decided from, in order: the observable kind, the object's labels and name
(e.g. ``c2``, ``phishing``, ``compromised``), then the contribution's crime type.
"""

from __future__ import annotations

from collections.abc import Iterable

ROLES = {
    "c2_server": "Command-and-control servers",
    "phishing_site": "Phishing sites",
    "malware_hosting": "Malware hosting",
    "compromised_host": "Compromised hosts",
    "victim_organisation": "Victim organisations",
    "mule_account": "Mule bank accounts",
    "mule_wallet": "Mule crypto wallets",
    "fraud_contact": "Fraud e-mail addresses and phone numbers",
    "malicious_domain": "Malicious domains",
    "other_infrastructure": "Other malicious infrastructure",
}
ACTIONS = ("takedown_request", "victim_notification", "blocking", "further_investigation")

# Words in labels or names that say what a piece of infrastructure does, most specific first.
_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("compromised", "infected", "victim-host", "bot-infected"), "compromised_host"),
    (("c2", "cnc", "c&c", "command-and-control", "botnet-controller"), "c2_server"),
    (("phishing", "credential-harvesting"), "phishing_site"),
    (("malware-hosting", "hosting-malware", "payload-delivery", "malware-distribution", "exploit-kit"),
     "malware_hosting"),
)
_NETWORK_KINDS = frozenset({"ipv4-addr", "ipv6-addr", "domain-name", "url"})

_BASE_ACTIONS = {
    "c2_server": ("takedown_request", "blocking"),
    "phishing_site": ("takedown_request", "blocking"),
    "malware_hosting": ("takedown_request", "blocking"),
    "malicious_domain": ("takedown_request", "blocking"),
    "compromised_host": ("victim_notification",),
    "victim_organisation": ("victim_notification",),
    "mule_account": ("further_investigation",),
    "mule_wallet": ("further_investigation",),
    "fraud_contact": ("further_investigation", "blocking"),
    "other_infrastructure": ("further_investigation", "blocking"),
}


def _tokens(labels: Iterable[str], name: str | None) -> set[str]:
    words = {label.strip().lower() for label in labels if isinstance(label, str)}
    if name:
        words.update(w.strip("():,;[]").lower() for w in name.split())
    return words


def role_of(*, kind: str, labels: Iterable[str] = (), name: str | None = None,
            categories: Iterable[str | None] = ()) -> str:
    if kind in ("btc", "eth", "xmr"):
        return "mule_wallet"
    if kind == "iban":
        return "mule_account"
    if kind in ("phone", "email-addr"):
        return "fraud_contact"
    if kind == "victim":
        return "victim_organisation"
    words = _tokens(labels, name)
    for hints, role in _HINTS:
        if words.intersection(hints):
            return role
    cats = {c for c in categories if c}
    if "phishing" in cats and kind in _NETWORK_KINDS:
        return "phishing_site"
    if cats & {"malware", "ransomware", "botnet", "cryptojacking"}:
        if kind == "url":
            return "malware_hosting"
        if kind in ("ipv4-addr", "ipv6-addr"):
            return "c2_server"
    if kind == "domain-name":
        return "malicious_domain"
    return "other_infrastructure"


def actions_for(role: str, *, sources: int, confidence: int | None) -> list[str]:
    """Recommended actions; a single low-confidence source is verified before anyone acts on it."""
    if sources < 2 and (confidence is None or confidence < 50) and role != "victim_organisation":
        return ["further_investigation"]
    return list(_BASE_ACTIONS.get(role, ("further_investigation",)))


# Measures for public and private institutions, by what the report found: (title, audience, text).
MEASURES = {
    "blocklist": ("Block the infrastructure found", "Internet service providers, CERT and government networks",
                  ("Block the {n} network indicators listed (attached as CSV and STIX) at resolvers, "
                   "proxies and firewalls; request takedown of hosting where the host is national.")),
    "notify_victims": ("Notify victims", "National CERT and internet service providers",
                       ("Notify the owners of the {n} compromised hosts and victim organisations; "
                        "advise clean-up and password resets.")),
    "patch": ("Patch exploited vulnerabilities", "All institutions running the affected software",
              "Patch the vulnerabilities exploited by the threats found: {cves}."),
    "bec": ("Business e-mail compromise awareness", "Banks, businesses and public procurement offices",
            ("Run business e-mail compromise awareness: verify payment changes by a call-back "
             "to a known number, and report attempts.")),
    "phishing": ("Phishing awareness", "Public, banks and online services",
                 "Run a phishing awareness notice naming the brands imitated; enable reporting buttons."),
    "ransomware": ("Ransomware resilience", "Critical infrastructure and businesses",
                   "Keep offline backups, patch internet-facing services and restrict remote access."),
    "mules": ("Mule accounts and wallets", "Banks, payment providers and virtual-asset exchanges",
              ("Review the {n} accounts and wallets listed with the financial intelligence unit; "
               "consider freezing requests.")),
    "fraud": ("Fraud contacts", "Telecom operators and consumer protection",
              "Warn the public about the fraud contacts listed and block them where the law allows."),
}
