"""Country reports as records: generate (one or all countries), send, list, download — audited.

Generating needs a host-centre analyst, or the host centre's operator (the CLI without
``--as``, ``operator_viewer``: no member; recorded and audited as the host centre). A report's
content is what its recipient organisation may receive (purpose ``threat_reporting``,
``disseminate=True``), decided by the policy gate; only members of that organisation may
download it, once it is sent.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.errors import Forbidden, InvalidInput, NotFound
from cyberfusion.kit.gcutil import older_objects_frozen
from cyberfusion.kit.regions import country_code, country_name
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.partners.models import Member, Organisation
from cyberfusion.products import country_index, render, repository, worker
from cyberfusion.products.country_report import (
    PURPOSE,
    CompiledReport,
    Recipient,
    iter_reports,
)
from cyberfusion.products.models import (
    MEDIA_TYPES,
    REPORT_FORMATS,
    CountryReport,
    ReportFile,
)
from cyberfusion.products.period import Period, parse_period
from cyberfusion.sharing import policy
from cyberfusion.sharing.viewer import Viewer

FILE_NAMES = {"html": "report.html", "pdf": "report.pdf", "stix": "report.stix.json", "csv": "items.csv"}


@dataclass
class Generated:
    record: CountryReport
    report: CompiledReport
    files: dict[str, bytes]


@dataclass
class Batch:
    batch_id: str
    period: str
    reports: list[Generated] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def summary_rows(self) -> list[dict[str, Any]]:
        return [{"country": g.report.country, "country_name": g.report.country_name, "region": g.report.region,
                 "recipient": g.report.recipient.org_name, "items": g.report.size(),
                 **g.report.counts(), "withheld": g.report.withheld, "tlp": g.report.tlp,
                 "report_id": g.record.id} for g in self.reports]


def organisation_viewer(session: Session, org: Organisation, *, today: date | None = None) -> Viewer:
    """What the organisation may receive, as any of its members would (the policy looks only at
    the organisation, its vetting and its agreement)."""
    stand_in = Member(id=0, email=f"organisation-{org.id}@recipient.invalid", name=org.name,
                      organisation_id=org.id, roles=[], active=True)
    state = partners.access_state(session, stand_in, today=today)
    if state.viewer is None:
        raise Forbidden(f"{org.name} may not receive intelligence: {state.reason}")
    return state.viewer


OPERATOR_LABEL = "host centre operator (CLI)"


def operator_viewer(session: Session, *, today: date | None = None) -> Viewer:
    """The host centre acting through its operator (the CLI without ``--as``): an analyst of the host
    centre that is no member (``member_id`` 0). Each report is still compiled under its recipient's own
    view; this viewer only authorises the run and says what was withheld (what the host centre may read)."""
    host = partners_repo.host_centre(session)
    if host is None:
        raise NotFound("no host centre organisation: create it first (cfc org create --kind host_centre)")
    stand_in = Member(id=0, email="operator@host-centre.invalid", name=OPERATOR_LABEL, organisation_id=host.id,
                      roles=["analyst"], active=True)
    state = partners.access_state(session, stand_in, today=today)
    if state.viewer is None:
        raise Forbidden(f"the host centre may not act: {state.reason}")
    return state.viewer


def _actor(session: Session, viewer: Viewer, **entry: Any) -> None:
    """Audit as the member, or as the host centre's operator (no member)."""
    if viewer.member_id:
        audit.record(session, viewer=viewer, **entry)
    else:
        audit.record(session, organisation_id=viewer.org_id, note=OPERATOR_LABEL, **entry)


def _require_generator(viewer: Viewer) -> None:
    partners.require_role(viewer, "analyst")
    if viewer.org_kind != "host_centre":
        raise Forbidden("country reports are produced by the host centre's analysts")


def _recipients(session: Session, *, countries: Sequence[str], all_countries: bool,
                recipient: str | int | None, skipped: list[dict[str, str]]) -> list[Recipient]:
    if all_countries and (countries or recipient):
        raise InvalidInput("--all takes no country and no recipient", field="all")
    if not all_countries and not countries:
        raise InvalidInput("name a country (ISO 3166-1 alpha-2) or ask for all", field="country")
    if recipient is not None:
        if len(countries) != 1:
            raise InvalidInput("a named recipient receives the report of one country", field="recipient")
        org = partners.get_org(session, recipient)
        return [Recipient(country_code(countries[0]), org.id, org.name, organisation_viewer(session, org))]
    wanted = {country_code(c) for c in countries}
    bureaus: dict[str, Organisation] = {}
    for org in repository.national_bureaus(session):
        if (all_countries or org.country in wanted) and org.country not in bureaus:
            bureaus[org.country] = org
    missing = sorted(wanted - set(bureaus))
    if missing and not all_countries:
        raise NotFound(f"no vetted national bureau for {', '.join(missing)}: name a recipient organisation")
    out = []
    for cc, org in sorted(bureaus.items()):
        try:
            out.append(Recipient(cc, org.id, org.name, organisation_viewer(session, org)))
        except Forbidden as exc:
            if not all_countries:
                raise
            skipped.append({"country": cc, "recipient": org.name, "reason": exc.detail})
    return out


def _file_row(report_id: str, fmt: str, content: bytes, sha256: str | None = None,
              stored: tuple[bytes, str] | None = None) -> ReportFile:
    """The stored file: its digest and size those of ``content``, its bytes compressed or not
    (``render.stored_form``; given when computed elsewhere, as by the worker)."""
    data, encoding = stored or render.stored_form(fmt, content)
    return ReportFile(report_id=report_id, format=fmt, media_type=MEDIA_TYPES[fmt],
                      sha256=sha256 or hashlib.sha256(content).hexdigest(), size=len(content), content=data,
                      encoding=encoding)


def generate(session: Session, *, viewer: Viewer, period: str, countries: Sequence[str] = (),
             all_countries: bool = False, recipient: str | int | None = None, k: int,
             formats: Sequence[str] = REPORT_FORMATS, send: bool = False) -> Batch:
    """Compile, render and record one report per country (each for the country's national bureau)."""
    _require_generator(viewer)
    policy.require_purpose(viewer, PURPOSE)
    for fmt in formats:
        if fmt not in REPORT_FORMATS:
            raise InvalidInput(f"unknown format {fmt!r}; one of: {', '.join(REPORT_FORMATS)}", field="formats")
    span = parse_period(period)
    batch = Batch(str(uuid.uuid4()), span.label)
    recipients = _recipients(session, countries=countries, all_countries=all_countries, recipient=recipient,
                             skipped=batch.skipped)
    if not recipients:
        return batch
    country_index.ensure_indexed(session)
    host = partners_repo.host_centre(session)
    centre, centre_identity = (host.name, host.identity_id) if host else ("host centre", "identity--" + str(uuid.uuid4()))
    look = worker.Look(generated_at=utcnow(), generated_by=viewer.email if viewer.member_id else OPERATOR_LABEL,
                       centre=centre, centre_identity=centre_identity, formats=tuple(formats))
    report_ids = {r.country: str(uuid.uuid4()) for r in sorted(recipients, key=lambda r: r.country)}
    made: dict[str, tuple[CompiledReport, dict[str, bytes], dict[str, str], dict[str, tuple[bytes, str]]]]
    made = {}  # country -> (report, files, their digests, their stored forms)
    with older_objects_frozen() as set_aside:
        # The items (519,504 at 1M observables) live until the batch is returned: the collector's
        # full passes need not walk them again and again while the next reports are built and
        # rendered (nor the process's older heap: the loaded geolocation tables, SQLAlchemy). Those
        # passes were 16% of the run's CPU at 1M (14 passes, 2.97 of 18.1 s, benchmarks/reports.py);
        # what was read, batch by batch, and each report as soon as it is built are set aside.
        shared = worker.start(session, generator=viewer, recipients=recipients, period=span, k=k,
                              report_ids=report_ids, look=look)
        local = worker.mine(recipients, shared)
        try:
            while local:
                for compiled in iter_reports(session, generator=viewer, recipients=local, period=span, k=k,
                                             set_aside=set_aside):
                    files = _files(compiled, report_ids[compiled.country], look)
                    # digests and stored forms now, while a worker may still be busy
                    made[compiled.country] = (compiled, files,
                                              {f: hashlib.sha256(b).hexdigest() for f, b in files.items()},
                                              {f: render.stored_form(f, b) for f, b in files.items()})
                    set_aside()
                local = []
                if shared is not None:
                    shipped = worker.results(shared)
                    if shipped is None:  # the worker failed: its countries are made here
                        local = shared.recipients
                    else:
                        for s_ in shipped:
                            made[s_.report.country] = (worker.ShippedReport(s_), s_.files, s_.digests, s_.stored)
                    shared = None
        finally:
            if shared is not None:  # failed here before the worker's reports were taken
                worker.stop(shared)
        for country in sorted(made):
            compiled, files, digests, stored = made[country]
            _record(session, viewer=viewer, batch=batch, compiled=compiled, files=files, digests=digests,
                    stored=stored, report_id=report_ids[country], span=span, all_countries=all_countries,
                    generated_at=look.generated_at, send=send)
    session.flush()
    return batch


def _files(compiled: CompiledReport, report_id: str, look: worker.Look) -> dict[str, bytes]:
    return render.files(compiled, report_id=report_id, generated_at=look.generated_at,
                        generated_by=look.generated_by, centre=look.centre, centre_identity=look.centre_identity,
                        formats=look.formats)


def _record(session: Session, *, viewer: Viewer, batch: Batch, compiled: CompiledReport, files: dict[str, bytes],
            digests: dict[str, str], stored: dict[str, tuple[bytes, str]], report_id: str, span: Period,
            all_countries: bool, generated_at: datetime, send: bool) -> None:
    record = CountryReport(
        id=report_id, batch_id=batch.batch_id if all_countries else None, country=compiled.country,
        period=span.label, period_start=span.start, period_end=span.end,
        recipient_org_id=compiled.recipient.org_id, purpose=PURPOSE,
        generated_by_member_id=viewer.member_id or None, generated_by_org_id=viewer.org_id,
        generated_at=generated_at, geo_database=compiled.geo_database["source"], tlp=compiled.tlp,
        item_count=compiled.size(), summary=compiled.summary(), sources=compiled.sources, status="generated")
    repository.add(session, record)
    for fmt, content in files.items():
        session.add(_file_row(report_id, fmt, content, digests.get(fmt), stored.get(fmt)))
    _actor(session, viewer, action="report.country.generate", purpose=PURPOSE, object_ids=[report_id],
           detail={"country": compiled.country, "period": span.label,
                   "recipient_org_id": compiled.recipient.org_id, "items": compiled.size(),
                   "withheld": compiled.withheld, "contributions": len(compiled.sources),
                   "formats": sorted(files)})
    if send:
        _mark_sent(session, viewer, record)
    batch.reports.append(Generated(record, compiled, files))


def _mark_sent(session: Session, viewer: Viewer, record: CountryReport) -> None:
    record.status, record.sent_at, record.sent_by_member_id = "sent", utcnow(), viewer.member_id or None
    _actor(session, viewer, action="report.country.send", purpose=record.purpose,
           object_ids=[record.id], detail={"recipient_org_id": record.recipient_org_id})


def reindex(session: Session, *, viewer: Viewer, full: bool = False) -> dict[str, int]:
    """Back-fill the per-observable country index (``full``: rebuild it), audited."""
    _require_generator(viewer)
    out = country_index.reindex(session, full=full)
    _actor(session, viewer, action="report.country.reindex", detail={"full": full, **out})
    session.flush()
    return out


def send(session: Session, *, viewer: Viewer, report_id: str) -> CountryReport:
    """Release a generated report to its recipient (from now on its members may download it)."""
    _require_generator(viewer)
    record = repository.report_by_id(session, report_id)
    if record is None:
        raise NotFound(f"no report {report_id}")
    if record.sent_at is None:
        _mark_sent(session, viewer, record)
        session.flush()
    return record


def _is_record_keeper(viewer: Viewer) -> bool:
    return viewer.org_kind == "host_centre" and viewer.has_role("analyst", "auditor", "platform_admin")


def _entitled(viewer: Viewer, record: CountryReport) -> bool:
    return record.recipient_org_id == viewer.org_id and record.sent_at is not None


def describe(session: Session, record: CountryReport, *, keeper: bool) -> dict[str, Any]:
    orgs = repository.orgs_by_ids(session, [record.recipient_org_id])
    out: dict[str, Any] = {
        "id": record.id, "country": record.country, "country_name": country_name(record.country),
        "period": record.period, "recipient": orgs[record.recipient_org_id].name,
        "recipient_org_id": record.recipient_org_id, "purpose": record.purpose,
        "generated_at": record.generated_at, "status": record.status, "sent_at": record.sent_at,
        "tlp": record.tlp, "items": record.item_count, "geo_database": record.geo_database,
        "summary": record.summary,
        "formats": [{"format": f, "size": n, "sha256": h} for f, n, h in repository.report_formats(session, record.id)],
    }
    if keeper:
        emails = repository.member_emails(session,
                                          [record.generated_by_member_id or 0, record.sent_by_member_id or 0])
        out |= {"generated_by": emails.get(record.generated_by_member_id or 0, OPERATOR_LABEL),
                "batch_id": record.batch_id,
                "sent_by": emails.get(record.sent_by_member_id or 0, OPERATOR_LABEL if record.sent_at else None),
                "sources": record.sources,
                "first_downloaded_at": record.first_downloaded_at}
    return out


def list_reports(session: Session, *, viewer: Viewer, country: str | None = None, batch_id: str | None = None,
                 limit: int = 100) -> list[dict[str, Any]]:
    """The host centre's analysts and auditors see every record; a recipient sees the reports sent to it."""
    if not 1 <= limit <= 500:
        raise InvalidInput("must be between 1 and 500", field="limit")
    keeper = _is_record_keeper(viewer)
    if not keeper:
        policy.require_purpose(viewer, PURPOSE)
    rows = repository.list_reports(session, recipient_org_id=None if keeper else viewer.org_id,
                                   country=country_code(country) if country else None, batch_id=batch_id,
                                   sent_only=not keeper, limit=limit)
    audit.record(session, action="report.country.list", viewer=viewer, object_ids=[r.id for r in rows])
    return [describe(session, r, keeper=keeper) for r in rows]


def get_report(session: Session, *, viewer: Viewer, report_id: str) -> dict[str, Any]:
    record = repository.report_by_id(session, report_id)
    keeper = _is_record_keeper(viewer)
    if record is None or not (keeper or _entitled(viewer, record)):
        raise NotFound(f"no report {report_id}")
    if not keeper:
        policy.require_purpose(viewer, record.purpose)
    audit.record(session, action="report.country.read", viewer=viewer, object_ids=[report_id])
    return describe(session, record, keeper=keeper)


def download(session: Session, *, viewer: Viewer, report_id: str, fmt: str) -> tuple[bytes, str, str]:
    """(content, media type, file name) for a member of the recipient organisation; NotFound otherwise
    (whether a report exists for someone else is not revealed)."""
    if fmt not in REPORT_FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}; one of: {', '.join(REPORT_FORMATS)}", field="format")
    record = repository.report_by_id(session, report_id)
    if record is None or not _entitled(viewer, record):
        raise NotFound(f"no report {report_id}")
    policy.require_purpose(viewer, record.purpose)
    row = repository.report_file(session, report_id=report_id, fmt=fmt)
    if row is None:
        raise NotFound(f"report {report_id} has no {fmt} file")
    now = utcnow()
    repository.mark_downloaded(session, report_id=report_id, at=now)
    audit.record(session, action="report.country.download", viewer=viewer, purpose=record.purpose,
                 object_ids=[report_id], detail={"format": fmt, "sha256": row.sha256})
    return (render.downloaded_form(row.content, row.encoding), row.media_type,
            f"{record.country}-{record.period}-{FILE_NAMES[fmt]}")
