"""Test analyzers and helpers shared by the analyzer tests."""

from __future__ import annotations

import time
from typing import ClassVar

from sharing.helpers import contribute, indicator

from cyberfusion.analyzers.base import Analyzer, AnalyzerResult, Observable
from cyberfusion.db import transaction
from cyberfusion.errors import Forbidden


class Recorder(Analyzer):
    """Egress analyzer owned by Vendor Labs that records every value it receives."""

    name = "test-egress"
    version = "2.1"
    owner = "Vendor Labs"
    accepts = frozenset({"ipv4-addr", "domain-name"})
    egress = True
    received: ClassVar[list[str]] = []

    def run(self, observable: Observable) -> AnalyzerResult:
        self.received.append(observable.value)
        return AnalyzerResult(summary=f"seen {observable.value}", confidence=60, data={"hits": 1})


class Counting(Analyzer):
    """Offline analyzer that counts its calls."""

    name = "test-count"
    version = "1.0"
    accepts = frozenset({"ipv4-addr"})
    calls: ClassVar[int] = 0

    def run(self, observable: Observable) -> AnalyzerResult:
        type(self).calls += 1
        return AnalyzerResult(summary=f"count {observable.value}", confidence=40)


class Broken(Analyzer):
    name = "test-broken"
    version = "1.0"
    accepts = frozenset({"ipv4-addr"})

    def run(self, observable: Observable) -> AnalyzerResult:
        raise KeyError("lookup table missing")


class Slow(Analyzer):
    name = "test-slow"
    version = "1.0"
    accepts = frozenset({"ipv4-addr"})
    timeout = 0.2

    def run(self, observable: Observable) -> AnalyzerResult:
        time.sleep(1.5)
        return AnalyzerResult(summary="too late")


class Limited(Analyzer):
    name = "test-limited"
    version = "1.0"
    accepts = frozenset({"ipv4-addr"})
    rate_limit = (1, 3600.0)

    def run(self, observable: Observable) -> AnalyzerResult:
        return AnalyzerResult(summary="ok")


TEST_ANALYZERS = (Recorder, Counting, Broken, Slow, Limited)


def add_ip(world, tmp_path, owner: str, ip: str, spec, **kw):
    """Contribute one indicator on ip; returns (contribution id, indicator id)."""
    obj = indicator("ipv4-addr", ip)
    result = contribute(world, tmp_path, owner, [obj], spec, **kw)
    return result.contribution_id, obj["id"]


def viewer_or_none(world, key):
    try:
        return world.viewer(key)
    except Forbidden:
        return None


def session_of(world):
    return transaction(world.factory)
