"""File hash → known-empty or known-benign, from warning lists.

The fusion warning lists (``cyberfusion.fusion.warninglists``) were not in the tree when
this analyzer was written, so it ships the one list every platform needs: the digests of
the empty file, computed here rather than copied. A hash found in no list is reported as
unknown — which says nothing about it being malicious.
"""

from __future__ import annotations

import hashlib

from cyberfusion.analyzers.base import Analyzer, AnalyzerResult, Observable

LIST_NAME = "empty file (built-in)"
EMPTY_FILE = {hashlib.new(kind, b"").hexdigest(): kind for kind in ("md5", "sha1", "sha256", "sha512")}


class HashReputation(Analyzer):
    name = "hash-known"
    version = "1.0"
    description = "file hash → known-empty / known-benign via warning lists (offline)"
    accepts = frozenset({"md5", "sha1", "sha256", "sha512"})

    def run(self, observable: Observable) -> AnalyzerResult:
        if EMPTY_FILE.get(observable.value) == observable.kind:
            return AnalyzerResult(
                summary=f"{observable.kind} {observable.value}: the empty file (zero bytes) — not a sample",
                confidence=100, data={"verdict": "known-empty", "list": LIST_NAME})
        return AnalyzerResult(summary=f"{observable.kind} {observable.value}: in no warning list",
                              confidence=50, data={"verdict": "unknown", "list": None})
