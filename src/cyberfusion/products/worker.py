"""A second process for large report runs: it compiles and renders some countries' reports from the
database while the caller's process does the others; the caller stores them all in its transaction.

At 1M observables (519,504 items, 58 countries) compiling and rendering were 8.3 of 10.6 s CPU in one
process. Handing the worker the rendered items instead (a pickled tuple per item) cost the parent
a third of what rendering them did and the worker as much again (benchmarks/reports.py --n 100000,
cProfile), so the worker reads and compiles its countries itself: only the files and the report
summaries come back, and the items, packed by the worker, are unpacked only if a caller reads them.

Used only where the worker sees what the caller's transaction sees: SQLite in a file, on a
transaction that has written nothing yet (sqlite3 runs the reads before a transaction's first
write each on its own snapshot of the committed database, as the worker's reads are); never on
PostgreSQL, an in-memory database or a run too small to pay for a process start
(``MIN_ROWS``). The worker is a new interpreter (no fork: the API server is threaded). If it
cannot start or fails, its countries are compiled here: the same reports either way.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.products import render, repository
from cyberfusion.products.country_report import CompiledReport, Item, Recipient, iter_reports
from cyberfusion.products.period import Period
from cyberfusion.sharing.viewer import Viewer

log = logging.getLogger(__name__)

MIN_ROWS = 150_000  # rows of the country index in the period, below which one process does it all
WORKER_SHARE = 0.44  # of the rows: the caller also stores every file (balanced at 1M, busy machine)


@dataclass
class Look:
    """What each report's files carry besides the report: the same for every report of a run."""

    generated_at: Any
    generated_by: str
    centre: str
    centre_identity: str
    formats: tuple[str, ...]


@dataclass
class Shipped:
    """One report from the worker: the report without its items, the items packed, the files, their
    SHA-256 digests and their stored forms (``render.stored_form``)."""

    report: CompiledReport
    packed: bytes
    size: int
    counts: dict[str, int]
    files: dict[str, bytes]
    digests: dict[str, str]
    stored: dict[str, tuple[bytes, str]]


class ShippedReport(CompiledReport):
    """A report compiled by the worker: its items are unpacked when first read (the record, the
    audit entry and the summaries need only their number and counts)."""

    def __init__(self, shipped: Shipped) -> None:
        fields_ = dict(vars(shipped.report))
        fields_.pop("items", None)
        self.__dict__.update(fields_)
        self._packed: bytes | None = shipped.packed
        self._items: list[Item] | None = None
        self._size, self._counts = shipped.size, shipped.counts

    @property  # type: ignore[override]
    def items(self) -> list[Item]:
        if self._items is None:
            self._items = [Item(*row) for row in pickle.loads(self._packed or b"")]
            self._packed = None
        return self._items

    @items.setter
    def items(self, value: list[Item]) -> None:
        self._items, self._packed = value, None

    def size(self) -> int:
        return self._size if self._items is None else len(self._items)

    def counts(self) -> dict[str, int]:
        return dict(self._counts) if self._items is None else super().counts()


def _pack(items: list[Item]) -> bytes:
    # One tuple per item (a slotted dataclass pickles through __reduce_ex__, three times slower);
    # the lists items share stay shared (pickle's memo).
    return pickle.dumps([(i.kind, i.value, i.role, i.crime_types, i.first_seen, i.last_seen, i.sources,
                          i.corroboration, i.confidence, i.related, i.actions, i.basis, i.network, i.stix_ids)
                         for i in items], protocol=pickle.HIGHEST_PROTOCOL)


def _run(url: str, generator: Viewer, recipients: list[Recipient], period: Period, k: int,
         report_ids: dict[str, str], look: Look) -> list[Shipped]:
    """In the worker: compile and render these recipients' reports from the database at ``url``."""
    from cyberfusion.db import make_engine, make_sessionmaker
    from cyberfusion.kit.gcutil import older_objects_frozen

    engine = make_engine(url)
    out: list[Shipped] = []
    try:
        with make_sessionmaker(engine)() as session, older_objects_frozen() as set_aside:
            for compiled in iter_reports(session, generator=generator, recipients=recipients, period=period, k=k,
                                         set_aside=set_aside):
                files = render.files(compiled, report_id=report_ids[compiled.country],
                                     generated_at=look.generated_at, generated_by=look.generated_by,
                                     centre=look.centre, centre_identity=look.centre_identity, formats=look.formats)
                out.append(Shipped(replace(compiled, items=[]), _pack(compiled.items), len(compiled.items),
                                   compiled.counts(), files,
                                   {f: hashlib.sha256(b).hexdigest() for f, b in files.items()},
                                   {f: render.stored_form(f, b) for f, b in files.items()}))
                set_aside()
            session.rollback()
    finally:
        engine.dispose()
    return out


def _worker_share(session: Session, recipients: list[Recipient], period: Period) -> list[Recipient]:
    """The recipients whose reports the worker should make (none: do it all here)."""
    if len(recipients) < 2:
        return []
    bind = session.get_bind()
    database = bind.url.database or ""
    if bind.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return []
    raw = session.connection().connection.dbapi_connection
    if raw is None or raw.in_transaction:  # written to: the worker would not see it
        return []
    rows = repository.located_counts(session, start=period.start, end=period.end,
                                     countries=[r.country for r in recipients])
    total = sum(rows.values())
    if total < MIN_ROWS:
        return []
    # Largest first to whichever side is further below its share (the worker's side by its share).
    mine, theirs = 0.0, 0.0
    out = []
    for r in sorted(recipients, key=lambda r: (-rows.get(r.country, 0), r.country)):
        n = rows.get(r.country, 0)
        if theirs / WORKER_SHARE <= mine / (1 - WORKER_SHARE):
            out.append(r)
            theirs += n
        else:
            mine += n
    return out if len(out) < len(recipients) else []


@dataclass
class Shared:
    """A worker's part of a run, under way."""

    recipients: list[Recipient]
    process: subprocess.Popen[bytes]


# The worker is a fresh interpreter running this module (not multiprocessing's spawn, which imports
# the caller's main module again in the child: a script without a __main__ guard would run twice):
# the caller's sys.path comes first on stdin, then the pickled arguments; the pickled result goes
# back on stdout.
_BOOT = ("import pickle, sys; sys.path[:0] = pickle.load(sys.stdin.buffer); "
         "from cyberfusion.products.worker import main; main()")


def main() -> None:
    """The worker process's entry point (see ``_BOOT``)."""
    args = pickle.load(sys.stdin.buffer)
    result = _run(*args)
    pickle.dump(result, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()


def start(session: Session, *, generator: Viewer, recipients: list[Recipient], period: Period, k: int,
          report_ids: dict[str, str], look: Look) -> Shared | None:
    """Hand some countries to a worker process, if that pays (see the module's text); None: do all here."""
    theirs = _worker_share(session, recipients, period)
    if not theirs or not sys.executable:
        return None
    url = session.get_bind().url.render_as_string(hide_password=False)
    args = (url, generator, theirs, period, k, {r.country: report_ids[r.country] for r in theirs}, look)
    try:
        process = subprocess.Popen([sys.executable, "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert process.stdin is not None
        pickle.dump([p for p in sys.path if p], process.stdin)
        pickle.dump(args, process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        process.stdin.close()
    except Exception:  # noqa: BLE001 - no process: everything is made here
        log.warning("country reports: no worker process, all reports made in this one", exc_info=True)
        return None
    return Shared(theirs, process)


def mine(recipients: Sequence[Recipient], shared: Shared | None) -> list[Recipient]:
    if shared is None:
        return list(recipients)
    theirs = {r.country for r in shared.recipients}
    return [r for r in recipients if r.country not in theirs]


def results(shared: Shared) -> list[Shipped] | None:
    """The worker's reports, or None if it failed (its countries are then to be made here)."""
    process = shared.process
    try:
        assert process.stdout is not None
        out = pickle.load(process.stdout)
        if process.wait() != 0:
            raise RuntimeError(f"worker exited with {process.returncode}")
        return out
    except Exception:  # noqa: BLE001 - the same reports are made here instead
        log.warning("country reports: the worker failed, its reports are made in this process", exc_info=True)
        stop(shared)
        return None
    finally:
        if process.stdout is not None:
            process.stdout.close()


def stop(shared: Shared) -> None:
    """End the worker (its reports are no longer wanted)."""
    shared.process.kill()
    shared.process.wait()
    if shared.process.stdout is not None:
        shared.process.stdout.close()
