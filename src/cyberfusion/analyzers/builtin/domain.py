"""Domain → registered domain and public suffix, offline (tldextract's bundled suffix list)."""

from __future__ import annotations

from cyberfusion.analyzers.base import Analyzer, AnalyzerResult, Observable, subject
from cyberfusion.kit.observables import public_suffix, registered_domain

SUFFIX_LIST = "public suffix list bundled with tldextract (2025-04-07)"


class DomainParts(Analyzer):
    name = "domain-parts"
    version = "1.0"
    description = "domain → registered domain and public suffix (offline)"
    accepts = frozenset({"domain-name"})

    def run(self, observable: Observable) -> AnalyzerResult:
        registered = registered_domain(observable.value)
        suffix = public_suffix(observable.value)
        data = {"registered_domain": registered, "public_suffix": suffix,
                "subdomain": observable.value[: -len(registered) - 1] if registered and
                observable.value != registered else None, "source": SUFFIX_LIST}
        if registered is None:
            return AnalyzerResult(summary=f"{observable.value}: not under a known public suffix "
                                          f"(suffix: {suffix or 'none'})", confidence=60, data=data)
        objects = [] if registered == observable.value else [subject("domain-name", registered)]
        return AnalyzerResult(summary=f"{observable.value}: registered domain {registered}, public suffix {suffix}",
                              confidence=95, data=data, objects=objects)
