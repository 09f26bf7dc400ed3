"""TLP 2.0 levels, their official STIX marking-definition ids, purposes and attribution modes."""

from __future__ import annotations

from cyberfusion.errors import InvalidInput

# Ordered from least to most restrictive; the index is the level stored in the database.
TLP_LEVELS = ("clear", "green", "amber", "amber+strict", "red")
CLEAR, GREEN, AMBER, AMBER_STRICT, RED = range(5)

# Official TLP 2.0 marking definitions (STIX 2.1 extension-definition based).
TLP2_MARKING_IDS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
# TLP 1.0 marking definitions as shipped in the STIX 2.1 specification; WHITE reads as CLEAR.
TLP1_MARKING_IDS = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "clear",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
}
MARKING_TO_TLP = {v: k for k, v in TLP2_MARKING_IDS.items()} | TLP1_MARKING_IDS

# Colours from the TLP 2.0 standard (text on black background).
TLP_COLOURS = {"clear": "#FFFFFF", "green": "#33FF00", "amber": "#FFC000",
               "amber+strict": "#FFC000", "red": "#FF2B2B"}

PURPOSES = ("investigation", "victim_notification", "network_defence", "research",
            "threat_reporting", "ai_processing")
ALL_PURPOSES_MASK = (1 << len(PURPOSES)) - 1
ATTRIBUTION_MODES = ("named", "sector", "anonymous")


def tlp_level(value: str, *, field: str = "tlp") -> int:
    """Level of a TLP name; accepts 'TLP:AMBER+STRICT', 'amber', TLP 1.0 'white' (read as clear)."""
    name = value.strip().lower().removeprefix("tlp:").replace(" ", "")
    if name == "white":
        name = "clear"
    try:
        return TLP_LEVELS.index(name)
    except ValueError:
        raise InvalidInput(f"unknown TLP {value!r}; one of: {', '.join(TLP_LEVELS)}",
                           field=field) from None


def tlp_from_markings(refs: list[str] | None) -> int | None:
    """The most restrictive TLP among an object's marking refs, if any."""
    levels = [TLP_LEVELS.index(MARKING_TO_TLP[r]) for r in refs or () if r in MARKING_TO_TLP]
    return max(levels) if levels else None


def purpose_bit(purpose: str, *, field: str = "purpose") -> int:
    try:
        return 1 << PURPOSES.index(purpose)
    except ValueError:
        raise InvalidInput(f"unknown purpose {purpose!r}; one of: {', '.join(PURPOSES)}",
                           field=field) from None


def purposes_mask(purposes: list[str] | tuple[str, ...], *, field: str = "purposes") -> int:
    mask = 0
    for p in purposes:
        mask |= purpose_bit(p, field=field)
    return mask


def purposes_of(mask: int) -> list[str]:
    return [p for i, p in enumerate(PURPOSES) if mask & (1 << i)]


TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"


def tlp2_marking_definition(name: str) -> dict[str, object]:
    """The official TLP 2.0 marking-definition object, as FIRST and OASIS publish it."""
    return {
        "type": "marking-definition", "spec_version": "2.1", "id": TLP2_MARKING_IDS[name],
        "created": "2022-10-01T00:00:00.000Z", "name": f"TLP:{name.upper()}",
        "extensions": {TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": name}},
    }
