"""Which normalised observables a STIX object carries (indicator patterns and SCOs)."""

from __future__ import annotations

import re
from typing import Any

from cyberfusion.errors import InvalidInput
from cyberfusion.kit.observables import detect, from_pattern, from_sco

_SCO_TYPES = frozenset({"ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file",
                        "autonomous-system", "cryptocurrency-wallet", "bank-account", "phone-number"})
_PLAIN_KEY = re.compile(r"^[a-z0-9_]+$")
_REF_KINDS = frozenset({"ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr"})


def _quote_key(key: Any) -> str:
    key = str(key)
    return key if _PLAIN_KEY.match(key) else "'" + key.replace("'", "\\'") + "'"


def _from_full_pattern(pattern: str) -> list[tuple[str, str]]:
    """Equality comparisons of a complex pattern, through the OASIS pattern parser."""
    from stix2patterns.pattern import Pattern

    try:
        comparisons = Pattern(pattern).inspect().comparisons
    except Exception:  # noqa: BLE001 - the validator has already vouched for the syntax
        return []
    found: list[tuple[str, str]] = []
    for obj_type, items in comparisons.items():
        for path, op, value in items:
            if op != "=" or not isinstance(value, str):
                continue
            literal = value if value.startswith("'") or value.isdigit() else "'" + value.replace("'", "\\'") + "'"
            simple = f"[{obj_type}:{'.'.join(_quote_key(p) for p in path)} = {literal}]"
            try:
                pairs = from_pattern(simple)
            except InvalidInput:
                continue
            if pairs is None and len(path) > 1 and path[-1] == "value":
                # A referenced object's value, e.g. network-traffic:dst_ref.value or
                # domain-name:resolves_to_refs[*].value: its kind follows from the value.
                hit = detect(literal.strip("'").replace("\\'", "'"))
                pairs = [hit] if hit and hit[0] in _REF_KINDS else []
            found.extend(pairs or [])
    return found


def observables_of(obj: dict[str, Any]) -> list[tuple[str, str]]:
    otype = obj.get("type")
    if otype == "indicator" and obj.get("pattern_type") == "stix":
        pattern = obj.get("pattern", "")
        try:
            simple = from_pattern(pattern)
        except InvalidInput:
            # A valid pattern may compare against a value that is not a clean observable
            # (e.g. 'domain autuo.xicp.net'): keep the object, index what normalises.
            simple = None
        return simple if simple is not None else _from_full_pattern(pattern)
    if otype in _SCO_TYPES:
        return from_sco(obj)
    if otype == "observed-data" and isinstance(obj.get("objects"), dict):  # STIX 2.0 embedded SCOs
        out: list[tuple[str, str]] = []
        for sco in obj["objects"].values():
            if isinstance(sco, dict) and sco.get("type") in _SCO_TYPES:
                out.extend(from_sco(sco))
        return out
    return []
