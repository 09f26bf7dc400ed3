"""The leak matrix's cases: handling combinations, viewers and who must see what.

Every read path of intelligence joins the matrix: write a function
``(world, viewer_key, client, tmp_path) -> set of handling names seen`` and add it to a
test parametrised with ``assert_matrix`` (see test_leak_matrix.py).
"""

from __future__ import annotations

from datetime import timedelta

from cyberfusion.db import utcnow
from cyberfusion.sharing.handling import HandlingSpec
from sharing.helpers import contribute, indicator

NOW = utcnow()
# name: (owner member, handling, value)
HANDLINGS = {
    "clear": ("vendor", dict(tlp="clear"), "10.0.0.1"),
    "green_inv_only": ("vendor", dict(tlp="green", purposes=("investigation",)), "10.0.0.2"),
    "amber": ("bank", dict(tlp="amber"), "10.0.0.3"),
    "amber_strict": ("ncb_fr", dict(tlp="amber+strict"), "10.0.0.4"),
    "red_to_le_gb": ("bank", dict(tlp="red", recipients=("le_gb",)), "10.0.0.5"),
    "only_fr_gb": ("telco", dict(tlp="green", allowed_countries=("FR", "GB")), "10.0.0.6"),
    "not_ru": ("vendor", dict(tlp="green", denied_countries=("RU",)), "10.0.0.7"),
    "only_police_kinds": ("bank", dict(tlp="green", allowed_kinds=("law_enforcement", "national_bureau")),
                          "10.0.0.8"),
    "le_only": ("vendor", dict(tlp="green", le_only=True), "10.0.0.9"),
    "to_vendor_only": ("bank", dict(tlp="green", recipients=("vendor",)), "10.0.0.10"),
    "no_further_dissemination": ("telco", dict(tlp="green", no_further_dissemination=True), "10.0.0.11"),
    "hard_expired": ("vendor", dict(tlp="clear", expires_at=NOW - timedelta(minutes=1)), "10.0.0.12"),
    "review_passed": ("vendor", dict(tlp="clear", review_at=NOW - timedelta(minutes=1)), "10.0.0.13"),
    "research_only": ("vendor", dict(tlp="clear", purposes=("research",)), "10.0.0.14"),
}
HOST = {"analyst", "expert", "admin", "auditor"}
EVERYONE = HOST | {"ncb_fr", "ncb_ru", "le_gb", "vendor", "bank", "telco", "intl"}
# Who sees each handling when reading for the purpose "investigation".
EXPECTED = {
    "clear": EVERYONE,
    "green_inv_only": EVERYONE,
    "amber": EVERYONE - {"telco"},                      # telco's agreement stops at GREEN
    "amber_strict": HOST | {"ncb_fr"},                  # host centre + owner
    "red_to_le_gb": {"le_gb", "bank"},                  # named recipient + owner; not even the host
    "only_fr_gb": {"ncb_fr", "le_gb", "bank", "telco"},
    "not_ru": EVERYONE - {"ncb_ru"},
    "only_police_kinds": {"ncb_fr", "ncb_ru", "le_gb", "bank"},
    "le_only": HOST | {"ncb_fr", "ncb_ru", "le_gb", "vendor"},
    "to_vendor_only": {"vendor", "bank"},
    "no_further_dissemination": EVERYONE,
    "hard_expired": set(),                              # not even the owner
    "review_passed": set(),
    "research_only": {"vendor"},                        # owner only: the purpose was not permitted
}
VIEWERS = sorted(EVERYONE | {"uni", "expert_lapsed", "expert_unsigned", "expired", "pending"})
NO_ACCESS = {"uni": "purpose", "expert_lapsed": "lapsed", "expert_unsigned": "unsigned", "expired": "agreement",
             "pending": "vetting"}
VALUE_OF = {name: value for name, (_o, _h, value) in HANDLINGS.items()}


def build_matrix(world, tmp_path):
    """One contribution per handling combination, each holding one indicator on its own IP."""
    for name, (owner, handling, value) in HANDLINGS.items():
        handling = dict(handling)
        if "recipients" in handling:
            handling["recipients"] = tuple(world.orgs[r] for r in handling["recipients"])
        contribute(world, tmp_path, owner, [indicator("ipv4-addr", value)], HandlingSpec(**handling))
    return world







def expected_for(key: str) -> set[str]:
    return {n for n, who in EXPECTED.items() if key in who}


def assert_matrix(read_path, world, client, tmp_path) -> None:
    outcome = {key: read_path(world, key, client, tmp_path) for key in VIEWERS}
    # viewer -> (seen but must not be, must be seen but was not)
    wrong = {k: (sorted(outcome[k] - expected_for(k)), sorted(expected_for(k) - outcome[k]))
             for k in VIEWERS if outcome[k] != expected_for(k)}
    assert wrong == {}, wrong
