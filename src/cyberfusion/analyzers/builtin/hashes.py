"""File hash → known-empty or known-benign, from the MISP warning lists loaded in the store.

The lists are the fusion centre's (``cfc warninglist import``, e.g. MISP's ``empty-hashes``
and ``eicar.com``); the digests of the empty file are also known here without any list, since
every platform needs them and they are computed, not copied. A hash found in no list is
reported as unknown — which says nothing about it being malicious.
"""

from __future__ import annotations

import hashlib

from cyberfusion.analyzers.base import Analyzer, AnalyzerResult, Observable

EMPTY_FILE = {hashlib.new(kind, b"").hexdigest(): kind for kind in ("md5", "sha1", "sha256", "sha512")}


class HashReputation(Analyzer):
    name = "hash-known"
    version = "1.1"
    description = "file hash → known-empty / known-benign via the warning lists (offline)"
    accepts = frozenset({"md5", "sha1", "sha256", "sha512"})
    reads_store = True  # the warning lists live in the store

    def run(self, observable: Observable) -> AnalyzerResult:
        kind, value = observable.kind, observable.value
        lists = observable.store.warninglists(kind, value) if observable.store is not None else []
        if EMPTY_FILE.get(value) == kind:
            return AnalyzerResult(summary=f"{kind} {value}: the empty file (zero bytes) — not a sample",
                                  confidence=100, data={"verdict": "known-empty", "lists": lists})
        if lists:
            return AnalyzerResult(summary=f"{kind} {value}: known, listed in {'; '.join(lists)}", confidence=90,
                                  data={"verdict": "known-benign", "lists": lists})
        return AnalyzerResult(summary=f"{kind} {value}: in no warning list", confidence=50,
                              data={"verdict": "unknown", "lists": []})
