"""Which values the index may hold: a per-process filter so a batch lookup sends SQLite only
the values that can match.

A batch lookup asks up to 100,000 values, of which typically a few per cent are stored. Each one
sent to SQLite costs an index probe (~2.4 us) plus its share of the values' JSON parameter and
the join; a membership test in a Python set costs ~0.05 us. The filter is the set of
``hash(value)`` of every stored observable value and host term (what ``matching.find`` compares
asked values with), so a value whose hash is absent cannot match and is not sent. A hash
collision or a deleted row only sends a value that then does not match: the filter may say
"maybe" wrongly, never "no" wrongly, so answers are the same with it and without it
(tests/fusion/test_fusion_value_filter.py).

Kept current by key, through the asking session: the filter remembers the highest observable
and term keys it has read; each use reads the current highest keys (one query of three index
probes) and adds the rows above. On SQLite writers take turns, so every row below the highest key
a read sees was committed before it: the filter then holds every value stored at that moment
(and a value stored after it is answered as if the lookup had run at that moment, a state the
store was in while the lookup ran). A delete could free a top key for reuse, so deletes are
counted (migration 0102's triggers) and a changed count starts the filter over. PostgreSQL: not
used (a sequence's order is not its commit order: a row with a lower key can commit after one
with a higher key was read).

Built once per process and database, in a background thread (1M observables: 1.4M hashes; in C,
``_fastlookup.HashSet``, 16 MB; without the extension a Python set, 117 MB): until it is ready,
and after a delete until it is rebuilt, lookups ask SQLite every value, as without a filter.
``lookup_filter_max_values`` caps its size (0: never built).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cyberfusion.fusion import repository

log = logging.getLogger(__name__)


class Hashes(Protocol):
    """The set of stored values' hashes: ``_fastlookup.HashSet`` (C: a table of 8-byte hashes,
    16 MB for 1.4M values) or, where the extension is not built, ``PyHashes``."""

    def update(self, values: Iterable[str]) -> None: ...

    def filter(self, values: Iterable[str]) -> list[str]: ...

    def __len__(self) -> int: ...

    def __contains__(self, value: object) -> bool: ...


class PyHashes:
    """``_fastlookup.HashSet`` in Python: a set of ``hash(value)`` (~80 bytes an entry: 117 MB
    for 1.4M values). tests/fusion/test_fusion_value_filter.py checks the two agree."""

    def __init__(self) -> None:
        self._hashes: set[int] = set()

    def update(self, values: Iterable[str]) -> None:
        self._hashes.update(map(hash, values))

    def filter(self, values: Iterable[str]) -> list[str]:
        contains = self._hashes.__contains__
        return [v for v in values if contains(hash(v))]

    def __len__(self) -> int:
        return len(self._hashes)

    def __contains__(self, value: object) -> bool:
        return hash(value) in self._hashes


def new_hashes(*, native: bool = True) -> Hashes:
    """An empty set of hashes: the C one when the extension is built (and ``native``)."""
    if native:
        try:
            from cyberfusion.fusion._fastlookup import HashSet
        except ImportError:
            pass
        else:
            return HashSet()
    return PyHashes()


# Below this many distinct values a lookup asks SQLite directly: the filter's own query (the
# current highest keys) costs about what matching a few values does.
MIN_VALUES = 32


@dataclass
class _State:
    deletions: int
    observables: int  # highest keys read
    terms: int
    hashes: Hashes


class ValueFilter:
    """The filter of one database in this process (``for_engine``)."""

    def __init__(self, engine: Engine, max_values: int, *, native: bool = True) -> None:
        self._engine = engine
        self._max_values = max_values
        self._native = native  # the C set when the extension is built (settings.native)
        self._lock = threading.Lock()
        self._state: _State | None = None
        self._building = False
        self._too_large = False

    def current(self, session: Session) -> Hashes | None:
        """The hashes of every value stored when this reads the highest keys (perhaps more), or
        None when the filter is not ready: then every value must be asked."""
        if self._too_large:
            return None
        deletions, observables, terms = repository.value_marks(session)
        if deletions is None:
            return None  # the counter's row is missing (migration 0102 writes it)
        with self._lock:
            state = self._state
            if state is None or deletions > state.deletions:
                self._start_build()
                return None
            if deletions < state.deletions:
                # This snapshot is older than a delete the filter has seen: the filter lacks at
                # most the rows that delete removed, which this snapshot still sees.
                return None
            if observables > state.observables or terms > state.terms:
                _add(state.hashes, session, state, observables, terms)
                if len(state.hashes) > self._max_values:
                    self._drop(len(state.hashes))
                    return None
            return state.hashes

    def build(self) -> None:
        """Read every stored value now, in a snapshot of its own (the background thread's work;
        tests and benchmarks call it to have the filter ready)."""
        with Session(self._engine) as session, session.begin():
            deletions, observables, terms = repository.value_marks(session)
            if deletions is None:
                return
            with self._lock:
                if self._state is not None and self._state.deletions >= deletions:
                    return  # another build from as new a snapshot came first
            state = _State(deletions, 0, 0, new_hashes(native=self._native))
            _add(state.hashes, session, state, observables, terms)
            with self._lock:
                if len(state.hashes) > self._max_values:
                    self._drop(len(state.hashes))
                elif self._state is None or state.deletions >= self._state.deletions:
                    self._state = state

    def _start_build(self) -> None:
        # Called with the lock held.
        if self._building:
            return
        self._building = True
        threading.Thread(target=self._build_in_background, name="cfc-value-filter", daemon=True).start()

    def _build_in_background(self) -> None:
        try:
            self.build()
        except Exception:  # noqa: BLE001 - the lookup goes on without the filter; said in the log
            log.exception("the lookup's value filter could not be built: lookups ask the database every value")
        finally:
            with self._lock:
                self._building = False

    def _drop(self, size: int) -> None:
        # Called with the lock held. Not built again in this process: the store only grows.
        log.warning("the lookup's value filter would hold %s values, above lookup_filter_max_values (%s): "
                    "not used", f"{size:,}", f"{self._max_values:,}")
        self._state = None
        self._too_large = True


def _add(hashes: Hashes, session: Session, state: _State, observables: int, terms: int) -> None:
    """Add the values of the rows whose keys are above ``state``'s, up to the given ones."""
    if observables > state.observables:
        hashes.update(repository.stored_values(session, table="observables", after=state.observables,
                                               upto=observables))
        state.observables = observables
    if terms > state.terms:
        hashes.update(repository.stored_values(session, table="terms", after=state.terms, upto=terms))
        state.terms = terms


_filters: weakref.WeakKeyDictionary[Engine, ValueFilter] = weakref.WeakKeyDictionary()
_filters_lock = threading.Lock()


def for_engine(engine: Engine, *, max_values: int, native: bool = True) -> ValueFilter | None:
    """This process's filter of ``engine``'s database; None where it is not used (PostgreSQL,
    ``max_values`` 0). The first call's ``max_values`` and ``native`` make the filter."""
    if engine.dialect.name != "sqlite" or max_values <= 0 or engine.url.database in (None, "", ":memory:"):
        return None  # an in-memory database has one connection: no second snapshot to build in
    with _filters_lock:
        f = _filters.get(engine)
        if f is None:
            f = _filters[engine] = ValueFilter(engine, max_values, native=native)
        return f


def for_session(session: Session, *, max_values: int, native: bool = True) -> ValueFilter | None:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return for_engine(engine, max_values=max_values, native=native)


__all__ = ["MIN_VALUES", "Hashes", "PyHashes", "ValueFilter", "for_engine", "for_session", "new_hashes"]
