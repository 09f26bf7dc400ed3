"""CVE → objects in the store linked to it (ATT&CK techniques, malware, tools, reports).

Reads only what the requester may read, through the policy gate (``Observable.store``,
built by the service), and of that only what every reader of the stored result may read
too (see results.StoreLinks).
"""

from __future__ import annotations

from cyberfusion.analyzers.base import (
    Analyzer,
    AnalyzerError,
    AnalyzerResult,
    Observable,
    relationship,
)


class CveLinks(Analyzer):
    name = "cve-links"
    version = "1.0"
    description = "CVE → ATT&CK and other known objects linked to it in the store (policy-filtered)"
    accepts = frozenset({"cve"})
    reads_store = True

    def run(self, observable: Observable) -> AnalyzerResult:
        if observable.store is None:
            raise AnalyzerError("needs read access to the store")
        linked = observable.store.linked(observable.value)
        data = {"linked": linked}
        if not linked:
            return AnalyzerResult(summary=f"{observable.value}: no linked objects in the store", confidence=50,
                                  data=data)
        names = ", ".join(f"{o['type']} {o['name'] or o['id']}" for o in linked[:10])
        more = f" and {len(linked) - 10} more" if len(linked) > 10 else ""
        return AnalyzerResult(summary=f"{observable.value}: linked to {names}{more}", confidence=70, data=data,
                              objects=[relationship(observable.ref, "related-to", o["id"]) for o in linked])
