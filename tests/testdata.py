"""Constants the tests share. Import them from here, never with ``from conftest import``: several
directories have a conftest.py, and which one a bare ``conftest`` names depends on test order."""

from __future__ import annotations

from pathlib import Path

CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance"

# The members of the ``world`` fixture: key -> (organisation key, roles).
WORLD_MEMBERS = {
    "analyst": ("host", ["analyst", "contributor"]),
    "expert": ("host", ["analyst"]),
    "expert_lapsed": ("host", ["analyst"]),
    "expert_unsigned": ("host", ["analyst"]),
    "admin": ("host", ["platform_admin"]),
    "auditor": ("host", ["auditor"]),
    "ncb_fr": ("ncb_fr", ["analyst", "contributor"]),
    "ncb_ru": ("ncb_ru", ["analyst", "contributor"]),
    "le_gb": ("le_gb", ["analyst", "contributor"]),
    "vendor": ("vendor", ["contributor", "reader"]),
    "bank": ("bank", ["contributor", "reader"]),
    "bank_admin": ("bank", ["org_admin"]),
    "telco": ("telco", ["contributor", "reader"]),
    "uni": ("uni", ["reader"]),
    "intl": ("intl", ["analyst"]),
    "pending": ("pending", ["contributor", "reader"]),
    "expired": ("expired", ["contributor", "reader"]),
}
