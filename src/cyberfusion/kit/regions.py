"""Countries (ISO 3166-1 alpha-2, via pycountry) and the five regions the centre reports by.

The region grouping follows the centre's regional bureaus, not a UN scheme, so no
library carries it: it is kept here as data.
"""

from __future__ import annotations

from functools import lru_cache

import pycountry

from cyberfusion.errors import InvalidInput

REGIONS = ("Africa", "Americas", "Asia & South Pacific", "Europe", "Middle East & North Africa")

_BY_REGION = {
    "Middle East & North Africa": "AE BH DZ EG EH IQ IR JO KW LB LY MA OM PS QA SA SD SY TN YE",
    "Africa": (
        "AO BF BI BJ BW CD CF CG CI CM CV DJ ER ET GA GH GM GN GQ GW KE KM LR LS MG ML MU MW MZ NA NE "
        "NG RE RW SC SH SL SN SO SS ST SZ TD TG TZ UG YT ZA ZM ZW MR IO TF"),
    "Americas": (
        "AG AI AR AW BB BL BM BO BQ BR BS BZ CA CL CO CR CU CW DM DO EC FK GD GF GL GP GT GY HN HT JM "
        "KN KY LC MF MQ MS MX NI PA PE PM PR PY SR SV SX TC TT US UM UY VC VE VG VI GS BV"),
    "Europe": (
        "AD AL AM AT AX AZ BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GE GG GI GR HR HU IE IL IM IS "
        "IT JE LI LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM TR UA VA XK"),
    "Asia & South Pacific": (
        "AF AS AU BD BN BT CC CK CN CX FJ FM GU HK HM ID IN JP KG KH KI KP KR KZ LA LK MH MM MN MO MP "
        "MV MY NC NF NP NR NU NZ PF PG PH PK PN PW SB SG TH TJ TK TL TM TO TV TW UZ VN VU WF WS AQ"),
}
_REGION_OF = {code: region for region, codes in _BY_REGION.items() for code in codes.split()}


@lru_cache(maxsize=512)
def country_code(value: str, *, field: str = "country") -> str:
    """Validate an ISO 3166-1 alpha-2 code (any case) and return it upper-case."""
    code = (value or "").strip().upper()
    if len(code) != 2 or (pycountry.countries.get(alpha_2=code) is None and code != "XK"):
        raise InvalidInput(f"unknown ISO 3166-1 alpha-2 country code: {value!r}", field=field)
    return code


def country_name(code: str) -> str:
    c = pycountry.countries.get(alpha_2=code)
    return c.name if c else ("Kosovo" if code == "XK" else code)


def region_of(code: str) -> str:
    """The reporting region of a country; every ISO code belongs to one."""
    return _REGION_OF.get(code, "Asia & South Pacific")


def region_name(value: str, *, field: str = "region") -> str:
    for region in REGIONS:
        if region.lower() == value.strip().lower():
            return region
    raise InvalidInput(f"unknown region {value!r}; one of: {', '.join(REGIONS)}", field=field)
