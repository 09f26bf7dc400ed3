"""Phone number → country, carrier, line type and area, offline (phonenumbers' metadata)."""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberType

from cyberfusion.analyzers.base import Analyzer, AnalyzerResult, Observable

_TYPES = {v: k.lower() for k, v in vars(PhoneNumberType).items() if k.isupper()}


class PhoneInfo(Analyzer):
    name = "phone-info"
    version = "1.0"
    description = "phone → country, carrier, line type, area (phonenumbers, offline)"
    accepts = frozenset({"phone"})

    def run(self, observable: Observable) -> AnalyzerResult:
        # Imported here: their data tables take seconds to load, and most processes never need them.
        from phonenumbers import carrier, geocoder, timezone
        number = phonenumbers.parse(observable.value)
        region = phonenumbers.region_code_for_number(number)
        data = {
            "e164": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
            "region": region, "country_code": number.country_code,
            "type": _TYPES.get(phonenumbers.number_type(number), "unknown"),
            # The carrier a number was first allocated to: numbers may since have been ported.
            "carrier": carrier.name_for_number(number, "en") or None,
            "area": geocoder.description_for_number(number, "en") or None,
            "time_zones": list(timezone.time_zones_for_number(number)),
            "source": f"phonenumbers {phonenumbers.__version__}",
        }
        parts = [f"{region}", data["type"].replace("_", " ")]
        if data["carrier"]:
            parts.append(f"carrier {data['carrier']} (at allocation)")
        if data["area"]:
            parts.append(data["area"])
        return AnalyzerResult(summary=f"{data['e164']}: " + ", ".join(parts), confidence=80, data=data)
