"""All SQL of country reports, the per-observable country index, report records and horizon notes.

Reports for many recipients are built from one read of the country index (and of the
observables of objects placed by a declared location): each row's
(contribution, handling, owner) key is put to ``policy.readable_by`` (through
``intel.repository.objects_readable``) once per recipient, in SQL, and a row goes only
to the recipients for whom that query returned its key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    Row,
    and_,
    case,
    delete,
    func,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from cyberfusion.db import conflict_insert
from cyberfusion.intel.models import Contribution, Observable, StixObject
from cyberfusion.intel.repository import objects_readable
from cyberfusion.partners.models import Member, Organisation
from cyberfusion.products.models import (
    CountryIndexState,
    CountryReport,
    HorizonNote,
    ObservableCountry,
    ReportFile,
)
from cyberfusion.sharing.viewer import Viewer

Key = tuple[str, int, int]  # (contribution_id, handling_id, organisation_id)
_CHUNK = 400  # SQLite allows 500 terms in one compound SELECT


def readable_keys(session: Session, *, viewer: Viewer, purpose: str, keys: Iterable[Key],
                  disseminate: bool = False) -> set[Key]:
    """Which of these keys the policy lets the viewer read for the purpose."""
    keys = sorted(set(keys))
    out: set[Key] = set()
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i:i + _CHUNK]
        k = union_all(*[select(literal(c).label("contribution_id"), literal(h).label("handling_id"),
                               literal(o).label("organisation_id")) for c, h, o in chunk]).subquery("k")
        cols = SimpleNamespace(contribution_id=k.c.contribution_id, handling_id=k.c.handling_id,
                               organisation_id=k.c.organisation_id)
        q = select(k.c.contribution_id, k.c.handling_id, k.c.organisation_id).where(
            objects_readable(viewer, purpose, cols, disseminate=disseminate))
        out.update((c, int(h), int(o)) for c, h, o in session.execute(q))
    return out


def scan_located(session: Session, *, start: datetime, end: datetime, countries: Sequence[str],
                 batch: int = 500) -> Iterator[Sequence[Row[Any]]]:
    """Observables seen in the period that point at one of these countries, from the country index
    alone (one key range per country, all countries in one statement), in batches of rows:
    ``LOCATED_COLUMNS`` in that order (the country, basis and detail of the link, the observable, its
    object's confidence, labels and name, and the row's policy key, see ``readable_keys``).

    A Core statement on the session's connection, read by position: the ORM's row loading was a
    third of reading 67k rows (cProfile, benchmarks/reports.py --n 100000), and reports read about
    half of all observables. Small batches: the rows of a 20,000-row batch lived long enough to be
    promoted to the garbage collector's oldest generation and set off three full passes at 100k
    (each walks every live object, the loaded geolocation tables included); with 500 none."""
    oc = ObservableCountry
    q = (select(oc.country, oc.basis, oc.detail, oc.seen_at, oc.organisation_id, oc.handling_id, oc.contribution_id,
                oc.confidence, oc.labels, oc.name, oc.stix_id, oc.kind, oc.value)
         .where(oc.country.in_(sorted(set(countries))), oc.seen_at >= start, oc.seen_at < end))
    yield from session.connection().execute(q.execution_options(yield_per=batch)).partitions()


def located_counts(session: Session, *, start: datetime, end: datetime, countries: Sequence[str]) -> dict[str, int]:
    """Rows of the country index per country in the period (before the policy gate: how much reading
    and building each country's report takes, to share the work between processes; never shown)."""
    oc = ObservableCountry
    q = (select(oc.country, func.count()).where(oc.country.in_(sorted(set(countries))), oc.seen_at >= start,
                                                oc.seen_at < end).group_by(oc.country))
    return {c: int(n) for c, n in session.execute(q)}


# The contribution's crime type is not joined in: the sqlite3 module's cost is per value of each row
# (about 1,000 instructions, cachegrind), and a run reads few contributions (``categories``).
LOCATED_COLUMNS = ("country", "basis", "detail", "seen_at", "organisation_id", "handling_id", "contribution_id",
                   "confidence", "labels", "name", "stix_id", "kind", "value")


def categories(session: Session, contribution_ids: Iterable[str]) -> dict[str, str | None]:
    """Crime type of each of these contributions that exists."""
    ids = sorted(set(contribution_ids))
    out: dict[str, str | None] = {}
    for i in range(0, len(ids), _CHUNK):
        out.update(session.execute(select(Contribution.id, Contribution.category)
                                   .where(Contribution.id.in_(ids[i:i + _CHUNK]))).all())
    return out


def scan_observables_of(session: Session, *, stix_ids: Iterable[str], start: datetime | None,
                        end: datetime | None, kinds: Sequence[str]) -> Iterator[Row[Any]]:
    """Observables of these objects seen in the period (by the stix_id index), with the columns of
    ``scan_located`` but the link; every row carries its policy key."""
    ids = sorted(set(stix_ids))
    for i in range(0, len(ids), _CHUNK):
        o, s = Observable, StixObject
        q = (select(o.kind, o.value, o.stix_id, o.object_type, o.contribution_id, o.handling_id,
                    o.organisation_id, o.seen_at, Contribution.category, s.confidence, s.labels, s.name)
             .join(Contribution, Contribution.id == o.contribution_id)
             .outerjoin(s, and_(s.stix_id == o.stix_id,
                                func.coalesce(s.contribution_id, "") == o.contribution_id))
             .where(o.stix_id.in_(ids[i:i + _CHUNK]), o.kind.in_(list(kinds))))
        if start is not None:
            q = q.where(o.seen_at >= start)
        if end is not None:
            q = q.where(o.seen_at < end)
        yield from session.execute(q)


# --- the per-observable country index --------------------------------------------------------

def observables_to_locate(session: Session, *, contribution_id: str, after_pk: int, kinds: Sequence[str],
                          limit: int) -> list[Row[Any]]:
    """A contribution's timed observables after ``after_pk`` (one keyset page), with their object's
    confidence, labels and name (one row per object version: the caller keeps one per observable)."""
    o, s = Observable, StixObject
    q = (select(o.pk, o.kind, o.value, o.stix_id, o.contribution_id, o.handling_id, o.organisation_id, o.seen_at,
                s.confidence, s.labels, s.name)
         .outerjoin(s, and_(s.stix_id == o.stix_id, func.coalesce(s.contribution_id, "") == o.contribution_id))
         .where(o.contribution_id == contribution_id, o.pk > after_pk, o.kind.in_(list(kinds)),
                o.seen_at.is_not(None))
         .order_by(o.pk, s.modified.desc()).limit(limit))
    return list(session.execute(q))


def insert_countries(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add index rows; a row already there is left as it is. Two runs may locate the same
    observables (two job workers both taking a contribution no job had named yet, or a report's
    back-fill beside a job): each row depends only on its observable, so the second run adds
    nothing instead of failing on the key."""
    if rows:  # Core executemany, as the ingest path does
        stmt = conflict_insert(session, ObservableCountry.__table__).on_conflict_do_nothing()
        session.connection().execute(stmt, rows)


def contributions_to_index(session: Session, *, full: bool) -> list[tuple[str, int]]:
    """(contribution, pk indexed so far) for contributions with observables not yet in the index.

    Not ``full``: only contributions never indexed (one anti-join over contributions, cheap enough
    for every report run). ``full``: also observables added to an indexed contribution later
    (one pass over the contribution index of the observables)."""
    st = CountryIndexState
    if not full:
        q = (select(Contribution.id).outerjoin(st, st.contribution_id == Contribution.id)
             .where(st.contribution_id.is_(None)).order_by(Contribution.id))
        return [(cid, 0) for cid in session.scalars(q)]
    latest = (select(Observable.contribution_id.label("cid"), func.max(Observable.pk).label("top"))
              .group_by(Observable.contribution_id).subquery())
    q = (select(Contribution.id, func.coalesce(st.max_pk, 0))
         .outerjoin(st, st.contribution_id == Contribution.id)
         .outerjoin(latest, latest.c.cid == Contribution.id)
         .where((st.contribution_id.is_(None)) | (latest.c.top > st.max_pk)).order_by(Contribution.id))
    return [(cid, int(top)) for cid, top in session.execute(q)]


def index_state(session: Session, contribution_id: str) -> CountryIndexState | None:
    return session.get(CountryIndexState, contribution_id)


def contribution_exists(session: Session, contribution_id: str) -> bool:
    return session.scalar(select(Contribution.id).where(Contribution.id == contribution_id)) is not None


def set_indexed(session: Session, *, contribution_id: str, max_pk: int) -> None:
    """Record how far the contribution is indexed (never moving back; concurrent runs: see
    ``insert_countries``)."""
    st = CountryIndexState.__table__
    stmt = conflict_insert(session, st).values(contribution_id=contribution_id, max_pk=max_pk)
    higher = case((stmt.excluded.max_pk > st.c.max_pk, stmt.excluded.max_pk), else_=st.c.max_pk)
    session.execute(stmt.on_conflict_do_update(index_elements=["contribution_id"], set_={"max_pk": higher}))


def clear_country_index(session: Session) -> None:
    session.execute(delete(ObservableCountry))
    session.execute(delete(CountryIndexState))


def scan_objects(session: Session, *, types: Sequence[str], with_data: bool = True) -> Iterator[Row[Any]]:
    """Objects of the given types with their policy keys (context: relationships, locations, SDOs)."""
    s = StixObject
    cols = [s.stix_id, s.type, s.name, s.source_ref, s.target_ref, s.created, s.contribution_id,
            s.handling_id, s.organisation_id, Contribution.category]
    if with_data:
        cols.append(s.data)
    q = (select(*cols).join(Contribution, Contribution.id == s.contribution_id)
         .where(s.type.in_(list(types))).order_by(s.stix_id, s.modified))
    yield from session.execute(q.execution_options(yield_per=20_000))


def relationships_to(session: Session, *, prefixes: Sequence[str]) -> Iterator[Row[Any]]:
    """Relationships whose target is an object of these types (by id prefix), with data."""
    from sqlalchemy import or_
    s = StixObject
    q = (select(s.source_ref, s.target_ref, s.created, s.contribution_id, s.handling_id, s.organisation_id,
                s.data, Contribution.category)
         .join(Contribution, Contribution.id == s.contribution_id)
         .where(s.type == "relationship", or_(*[s.target_ref.like(f"{p}--%") for p in prefixes])))
    yield from session.execute(q.execution_options(yield_per=20_000))


def relationships_between(session: Session) -> Iterator[Row[Any]]:
    """Every relationship's endpoints and key, without the JSON (cheap, for linking)."""
    s = StixObject
    q = select(s.source_ref, s.target_ref, s.contribution_id, s.handling_id, s.organisation_id).where(
        s.type == "relationship")
    yield from session.execute(q.execution_options(yield_per=50_000))


# --- organisations ---------------------------------------------------------------------------

def national_bureaus(session: Session, *, country: str | None = None) -> list[Organisation]:
    q = select(Organisation).where(Organisation.kind == "national_bureau",
                                   Organisation.vetting_status == "approved").order_by(Organisation.country,
                                                                                       Organisation.id)
    if country:
        q = q.where(Organisation.country == country)
    return list(session.scalars(q))


def orgs_by_ids(session: Session, ids: Iterable[int]) -> dict[int, Organisation]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(ids)))}


def member_emails(session: Session, ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return dict(session.execute(select(Member.id, Member.email).where(Member.id.in_(ids))).all())


# --- report records ----------------------------------------------------------------------------

def add(session: Session, row: Any) -> None:
    session.add(row)
    session.flush()


def report_by_id(session: Session, report_id: str) -> CountryReport | None:
    return session.get(CountryReport, report_id)


def list_reports(session: Session, *, recipient_org_id: int | None = None, country: str | None = None,
                 batch_id: str | None = None, sent_only: bool = False,
                 before: tuple[datetime, str] | None = None, limit: int = 100) -> list[CountryReport]:
    from sqlalchemy import tuple_
    q = select(CountryReport)
    if recipient_org_id is not None:
        q = q.where(CountryReport.recipient_org_id == recipient_org_id)
    if country:
        q = q.where(CountryReport.country == country)
    if batch_id:
        q = q.where(CountryReport.batch_id == batch_id)
    if sent_only:
        q = q.where(CountryReport.sent_at.is_not(None))
    if before:
        q = q.where(tuple_(CountryReport.generated_at, CountryReport.id) < tuple_(*before))
    return list(session.scalars(q.order_by(CountryReport.generated_at.desc(), CountryReport.id.desc())
                                .limit(limit)))


def report_file(session: Session, *, report_id: str, fmt: str) -> ReportFile | None:
    return session.scalar(select(ReportFile).where(ReportFile.report_id == report_id, ReportFile.format == fmt))


def report_formats(session: Session, report_id: str) -> list[tuple[str, int, str]]:
    return [tuple(r) for r in session.execute(  # type: ignore[misc]
        select(ReportFile.format, ReportFile.size, ReportFile.sha256).where(ReportFile.report_id == report_id)
        .order_by(ReportFile.format))]


def mark_downloaded(session: Session, *, report_id: str, at: datetime) -> None:
    session.execute(update(CountryReport).where(CountryReport.id == report_id,
                                                CountryReport.first_downloaded_at.is_(None))
                    .values(first_downloaded_at=at))


# --- horizon notes -----------------------------------------------------------------------------

def notes_readable(session: Session, *, viewer: Viewer, purpose: str, since: datetime | None = None,
                   until: datetime | None = None, region: str | None = None, crime_type: str | None = None,
                   tag: str | None = None, disseminate: bool = False,
                   limit: int = 200) -> list[tuple[HorizonNote, str]]:
    """Notes the viewer may read (policy gate on the note's own contribution), with the STIX note."""
    n = HorizonNote
    q = (select(n, StixObject.data)
         .join(StixObject, and_(StixObject.stix_id == n.stix_id, StixObject.contribution_id == n.contribution_id))
         .where(objects_readable(viewer, purpose, n, disseminate=disseminate)))
    if since:
        q = q.where(n.created_at >= since)
    if until:
        q = q.where(n.created_at < until)
    if region:
        q = q.where(n.region == region)
    if crime_type:
        q = q.where(n.crime_type == crime_type)
    q = q.order_by(n.created_at.desc(), n.id.desc())
    if not tag:
        return [(r[0], r[1]) for r in session.execute(q.limit(limit))]
    # Tags are a JSON list (portable storage), so the tag filter runs here.
    return [(r[0], r[1]) for r in session.execute(q) if tag in (r[0].tags or [])][:limit]


def count_rows(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0
