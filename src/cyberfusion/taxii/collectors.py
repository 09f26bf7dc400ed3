"""Collectors: scheduled pulls of partners' TAXII 2.1 collections and MISP feeds.

Each collector belongs to a partner organisation and runs as one of its members (a service
account with the contributor role): what it pulls becomes that organisation's contributions,
through the ingest pipeline, with the handling configured for the collector.

* TAXII 2.1: pages through ``objects/`` (every version) with ``added_after`` (the bookmark) and ``next``.
  Every page is one contribution committed together with the new position, so a run that
  dies resumes where it stopped; a ``next`` the server no longer knows restarts from the
  bookmark (versions already held are skipped). The bookmark moves to the newest
  ``X-TAXII-Date-Added-Last`` only when the server says there is no more.
* MISP feeds: reads ``manifest.json`` and fetches the events whose timestamp is newer than
  the one already held; an event whose bytes did not change (SHA-256) is not imported again.
  Each event is its own contribution, committed with its bookkeeping.

Runs are leased (``lease_until``) so several workers never run one collector at once
(PostgreSQL: ``FOR UPDATE SKIP LOCKED``); HTTP requests are retried with exponential
backoff; a failed run is retried later with exponential backoff; progress (pages,
objects, skipped) and the last status are kept on the collector row.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
from Crypto.Cipher import AES
from sqlalchemy.orm import Session, sessionmaker

from cyberfusion.db import make_sessionmaker, transaction, utcnow
from cyberfusion.errors import Conflict, CyberfusionError, InvalidInput, NotFound
from cyberfusion.ingest.pipeline import import_file
from cyberfusion.ingest.stix import upgrade_20, validate_object
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.taxii import collections as cols
from cyberfusion.taxii import media, repository
from cyberfusion.taxii.models import Collector, CollectorItem

log = logging.getLogger("cyberfusion.taxii.collectors")
KINDS = ("taxii21", "misp-feed")
LEASE = timedelta(minutes=5)
HTTP_ATTEMPTS = 4
HTTP_BACKOFF = 0.5  # seconds, doubled on each retry of one request
RUN_BACKOFF = timedelta(seconds=60)  # after a failed run, doubled per consecutive failure
RUN_BACKOFF_MAX = timedelta(hours=6)
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_SCO_TYPES = frozenset({
    "artifact", "autonomous-system", "directory", "domain-name", "email-addr", "email-message", "file",
    "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic", "process", "software", "url",
    "user-account", "windows-registry-key", "x509-certificate"})


class CollectorError(CyberfusionError):
    title = "Collector failed"
    slug = "collector-failed"


# --- credentials at rest -------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _key(secret: str) -> bytes:
    return hashlib.sha256(b"cyberfusion collector credentials\0" + secret.encode()).digest()


def seal(credentials: dict[str, str], *, secret: str) -> str:
    nonce = os.urandom(12)
    cipher = AES.new(_key(secret), AES.MODE_GCM, nonce=nonce)
    sealed, tag = cipher.encrypt_and_digest(json.dumps(credentials).encode())
    return base64.b64encode(nonce + sealed + tag).decode()


def unseal(blob: str | None, *, secret: str) -> dict[str, str]:
    if not blob:
        return {}
    raw = base64.b64decode(blob)
    cipher = AES.new(_key(secret), AES.MODE_GCM, nonce=raw[:12])
    try:
        return dict(json.loads(cipher.decrypt_and_verify(raw[12:-16], raw[-16:])))
    except ValueError:
        raise CollectorError("stored credentials cannot be read with this secret key") from None


# --- configuration ---------------------------------------------------------------------------------

def add(session: Session, *, name: str, kind: str, url: str, member_email: str, handling: HandlingSpec,
        secret: str, username: str | None = None, password: str | None = None, token: str | None = None,
        interval_seconds: int = 3600, page_size: int = 1000) -> Collector:
    """Configure a pull; the member is the partner organisation's account it contributes as."""
    name = name.strip()
    if not name:
        raise InvalidInput("must not be empty", field="name")
    if kind not in KINDS:
        raise InvalidInput(f"{kind!r} is not one of: {', '.join(KINDS)}", field="kind")
    if not url.startswith(("http://", "https://")):
        raise InvalidInput("must be an http:// or https:// URL", field="url")
    if kind == "taxii21" and "/collections/" not in url:
        raise InvalidInput("a TAXII collector needs the collection URL (…/collections/<id>/)", field="url")
    if interval_seconds < 60:
        raise InvalidInput("must be at least 60 seconds", field="interval_seconds")
    if not 1 <= page_size <= 10_000:
        raise InvalidInput("must be between 1 and 10000", field="page_size")
    if repository.collector_by_name(session, name):
        raise Conflict(f"a collector named {name!r} exists", extra={"field": "name"})
    member = partners.get_member(session, member_email)
    viewer = partners.resolve_viewer(session, member)
    if not viewer.may_contribute or not viewer.has_role(*cols.CONTRIBUTE_ROLES):
        raise InvalidInput(f"{member_email} may not contribute for its organisation (role or agreement)",
                           field="member")
    credentials: dict[str, str] = {}
    if username is not None:
        credentials = {"username": username, "password": password or ""}
    elif token is not None:
        credentials = {"token": token}
    now = utcnow()
    schedule(session, due=now)  # due at once: brings the waiting collectors job forward
    row = Collector(name=name, kind=kind, url=url if url.endswith("/") else url + "/",
                    organisation_id=member.organisation_id, member_id=member.id,
                    handling=cols.handling_to_json(handling),
                    credentials=seal(credentials, secret=secret) if credentials else None,
                    interval_seconds=interval_seconds, page_size=page_size, enabled=True, state={},
                    status="idle", next_run_at=now, failures=0, run_pages=0, run_objects=0, run_skipped=0,
                    total_objects=0, created_at=now)
    return repository.add(session, row)


def describe(row: Collector, org_name: str) -> dict[str, Any]:
    return {"name": row.name, "kind": row.kind, "url": row.url, "organisation": org_name,
            "enabled": row.enabled, "status": row.status, "interval_seconds": row.interval_seconds,
            "last_run_at": row.last_run_at, "last_success_at": row.last_success_at,
            "next_run_at": row.next_run_at, "failures": row.failures, "last_error": row.last_error,
            "run_pages": row.run_pages, "run_objects": row.run_objects, "run_skipped": row.run_skipped,
            "total_objects": row.total_objects,
            "bookmark": row.state.get("added_after") if row.kind == "taxii21" else None,
            "handling_tlp": (row.handling or {}).get("tlp")}


def listing(session: Session) -> list[dict[str, Any]]:
    return [describe(c, org) for c, org in repository.collectors(session)]


def remove(session: Session, *, name: str) -> None:
    row = repository.collector_by_name(session, name)
    if row is None:
        raise NotFound(f"no collector {name!r}")
    repository.delete_collector(session, row)


# --- HTTP with retries -----------------------------------------------------------------------------

def _client(row: Collector, secret: str, transport: httpx.BaseTransport | None) -> httpx.Client:
    creds = unseal(row.credentials, secret=secret)
    headers = {"User-Agent": "cyberfusion-collector"}
    auth = None
    if "token" in creds:
        headers["Authorization"] = f"Bearer {creds['token']}"
    elif "username" in creds:
        auth = (creds["username"], creds.get("password", ""))
    return httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0), headers=headers, auth=auth,
                        transport=transport, follow_redirects=True)


def _request(client: httpx.Client, url: str, *, params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, accept_400: bool = False) -> httpx.Response:
    """GET with retries on network errors, 429 and 5xx (Retry-After honoured, up to 30 s)."""
    delay = HTTP_BACKOFF
    for attempt in range(1, HTTP_ATTEMPTS + 1):
        try:
            response = client.get(url, params=params, headers=headers)
        except httpx.TransportError as exc:
            if attempt == HTTP_ATTEMPTS:
                raise CollectorError(f"GET {url}: {type(exc).__name__}: {exc}") from None
        else:
            if response.status_code not in _RETRY_STATUS:
                if response.status_code >= 400 and not (accept_400 and response.status_code == 400):
                    raise CollectorError(f"GET {url}: HTTP {response.status_code} {response.text[:300]}")
                return response
            if attempt == HTTP_ATTEMPTS:
                raise CollectorError(f"GET {url}: HTTP {response.status_code} after {attempt} attempts")
            retry_after = response.headers.get("Retry-After", "")
            if retry_after.isdigit():
                delay = min(float(retry_after), 30.0)
        time.sleep(delay)
        delay *= 2
    raise CollectorError(f"GET {url}: no answer")  # pragma: no cover - the loop returns or raises


# --- one run ------------------------------------------------------------------------------------------

@dataclass
class RunReport:
    name: str
    status: str
    pages: int = 0
    objects: int = 0
    skipped: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "pages": self.pages, "objects": self.objects,
                "skipped": self.skipped, "error": self.error}


class _LeaseLost(Exception):
    pass


def _prepare(obj: Any) -> dict[str, Any] | None:
    """A pulled object ready for the pipeline (STIX 2.0 upgraded), or None if it is invalid."""
    if isinstance(obj, dict) and "spec_version" not in obj and obj.get("type") not in _SCO_TYPES \
            and "created" in obj:
        obj = upgrade_20(obj)
    return obj if isinstance(obj, dict) and not validate_object(obj) else None


def _import(session: Session, row: Collector, *, fmt: str, payload: bytes, file_name: str,
            tmp_dir: Path) -> tuple[str | None, int]:
    member = partners_repo.member_by_id(session, row.member_id)
    if member is None:
        raise CollectorError("the collector's member no longer exists")
    viewer = partners.resolve_viewer(session, member)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=tmp_dir, suffix=".json") as tmp:
        tmp.write(payload)
        tmp.flush()
        result = import_file(session, viewer=viewer, path=Path(tmp.name), fmt=fmt,
                             spec=cols.handling_from_json(row.handling), file_name=file_name[:500],
                             source_format="collector")
    return result.contribution_id, result.objects


def _held(session: Session, collector_id: int, owner: str) -> Collector:
    row = repository.collector_for_update(session, collector_id, owner)
    if row is None:
        raise _LeaseLost()
    return row


def _progress(row: Collector, *, pages: int = 0, objects: int = 0, skipped: int = 0) -> None:
    row.run_pages += pages
    row.run_objects += objects
    row.run_skipped += skipped
    row.total_objects += objects
    row.lease_until = utcnow() + LEASE


def _later(a: str | None, b: str | None) -> str | None:
    """The later of two date_added strings as the server wrote them (compared as instants)."""
    if not a or not b:
        return a or b
    try:
        return a if media.parse_timestamp(a, field="date_added") >= media.parse_timestamp(b, field="date_added") else b
    except InvalidInput:
        return b


def _run_taxii(factory: sessionmaker[Session], collector_id: int, owner: str, client: httpx.Client,
               tmp_dir: Path, report: RunReport) -> None:
    with transaction(factory) as session:
        row = _held(session, collector_id, owner)
        url, page_size, name, state = row.url, row.page_size, row.name, dict(row.state or {})
    headers = {"Accept": media.TAXII}
    while True:
        # Every version: each is an immutable row here, and a partner's history is intelligence too.
        params: dict[str, Any] = {"limit": page_size, "match[version]": "all"}
        if state.get("added_after"):
            params["added_after"] = state["added_after"]
        if state.get("next"):
            params["next"] = state["next"]
        response = _request(client, url + "objects/", params=params, headers=headers, accept_400="next" in params)
        if response.status_code == 400:
            state.pop("next", None)  # the server forgot the cursor: start again from the bookmark
            continue
        try:
            envelope = response.json()
        except ValueError:
            raise CollectorError(f"GET {url}objects/: the answer is not JSON") from None
        objects = envelope.get("objects") or [] if isinstance(envelope, dict) else []
        prepared = [p for p in (_prepare(o) for o in objects) if p is not None]
        skipped = len(objects) - len(prepared)
        more = bool(envelope.get("more")) and bool(envelope.get("next"))
        with transaction(factory) as session:
            row = _held(session, collector_id, owner)
            stored = 0
            if prepared:
                bundle = json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": prepared})
                _cid, stored = _import(session, row, fmt="stix", payload=bundle.encode(),
                                       file_name=f"collector {name} page {row.run_pages + 1}", tmp_dir=tmp_dir)
            state["run_max_added"] = _later(state.get("run_max_added"),
                                            response.headers.get("X-TAXII-Date-Added-Last"))
            if more:
                state["next"] = envelope["next"]
            else:
                state.pop("next", None)
                if state.get("run_max_added"):
                    state["added_after"] = state["run_max_added"]
                state.pop("run_max_added", None)
            row.state = dict(state)
            _progress(row, pages=1, objects=stored, skipped=skipped)
        report.pages += 1
        report.objects += stored
        report.skipped += skipped
        if not more:
            return


def _run_misp(factory: sessionmaker[Session], collector_id: int, owner: str, client: httpx.Client,
              tmp_dir: Path, report: RunReport) -> None:
    with transaction(factory) as session:
        row = _held(session, collector_id, owner)
        url, name = row.url, row.name
        held = repository.collector_items(session, collector_id)
    manifest = _request(client, url + "manifest.json").json()
    if not isinstance(manifest, dict):
        raise CollectorError(f"{url}manifest.json is not an object keyed by event uuid")
    todo = []
    for key, meta in manifest.items():
        try:
            event_uuid = str(uuid.UUID(str(key)))
            stamp = int((meta or {}).get("timestamp", 0))
        except (ValueError, TypeError, AttributeError):
            report.skipped += 1
            continue
        if event_uuid not in held or stamp > held[event_uuid][0]:
            todo.append((stamp, event_uuid))
    for stamp, event_uuid in sorted(todo):
        raw = _request(client, f"{url}{event_uuid}.json").content
        digest = hashlib.sha256(raw).hexdigest()
        stored, skipped = 0, 0
        try:
            with transaction(factory) as session:
                row = _held(session, collector_id, owner)
                item = repository.collector_item(session, collector_id, event_uuid)
                contribution_id = item.contribution_id if item else None
                if item is None or item.digest != digest:
                    contribution_id, stored = _import(session, row, fmt="misp", payload=raw,
                                                      file_name=f"collector {name} event {event_uuid}",
                                                      tmp_dir=tmp_dir)
                _remember(session, collector_id, event_uuid, stamp, digest, contribution_id)
                _progress(row, pages=1, objects=stored)
        except InvalidInput as exc:
            # A broken event is left out (and not fetched again until it changes); the others go on.
            log.warning("collector %s: event %s left out: %s", name, event_uuid, exc.detail)
            stored, skipped = 0, 1
            with transaction(factory) as session:
                row = _held(session, collector_id, owner)
                _remember(session, collector_id, event_uuid, stamp, digest, None)
                _progress(row, pages=1, skipped=1)
        report.pages += 1
        report.objects += stored
        report.skipped += skipped


def _remember(session: Session, collector_id: int, event_uuid: str, stamp: int, digest: str,
              contribution_id: str | None) -> None:
    item = repository.collector_item(session, collector_id, event_uuid)
    if item is None:
        repository.add(session, CollectorItem(collector_id=collector_id, item=event_uuid, timestamp=stamp,
                                              digest=digest, contribution_id=contribution_id, fetched_at=utcnow()))
    else:
        item.timestamp, item.digest, item.contribution_id, item.fetched_at = stamp, digest, contribution_id, utcnow()


def run(factory: sessionmaker[Session], *, secret: str, tmp_dir: Path, names: list[str] | None = None,
        due_only: bool = True, owner: str | None = None, transport: httpx.BaseTransport | None = None,
        limit: int = 10) -> list[RunReport]:
    """Lease and run collectors (the named ones, or all due ones); one report per collector."""
    owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    with transaction(factory) as session:
        if names:
            for n in names:
                if repository.collector_by_name(session, n) is None:
                    raise NotFound(f"no collector {n!r}")
        ids = repository.claim_collectors(session, owner=owner, now=utcnow(), lease=LEASE, names=names or (),
                                          due_only=due_only, limit=limit)
    reports = []
    for collector_id in ids:
        reports.append(_run_one(factory, collector_id, owner, secret=secret, tmp_dir=tmp_dir, transport=transport))
    return reports


def _run_one(factory: sessionmaker[Session], collector_id: int, owner: str, *, secret: str, tmp_dir: Path,
             transport: httpx.BaseTransport | None) -> RunReport:
    with transaction(factory) as session:
        row = _held(session, collector_id, owner)
        report = RunReport(row.name, "running")
        kind, client = row.kind, _client(row, secret, transport)
    try:
        with client:
            (_run_taxii if kind == "taxii21" else _run_misp)(factory, collector_id, owner, client, tmp_dir, report)
    except _LeaseLost:
        report.status, report.error = "lease-lost", "another worker took this collector over"
        return report
    except Exception as exc:  # noqa: BLE001 - any failure is recorded on the collector and retried
        report.status, report.error = "error", f"{type(exc).__name__}: {getattr(exc, 'detail', exc)}"
        log.warning("collector %s failed: %s", report.name, report.error)
    else:
        report.status = "ok"
    with transaction(factory) as session:
        row = repository.collector_for_update(session, collector_id, owner)
        if row is not None:
            now = utcnow()
            row.status, row.lease_owner, row.lease_until = report.status, None, None
            if report.status == "ok":
                row.failures, row.last_error, row.last_success_at = 0, None, now
                row.next_run_at = now + timedelta(seconds=row.interval_seconds)
            else:
                row.failures += 1
                row.last_error = (report.error or "")[:4000]
                row.next_run_at = now + min(RUN_BACKOFF * (2 ** (row.failures - 1)), RUN_BACKOFF_MAX)
    return report


# --- as a background job -----------------------------------------------------------------------------

JOB_KIND = "collectors.run"


def schedule(session: Session, *, due: datetime | None = None) -> None:
    """Have one ``collectors.run`` job waiting for the earliest due collector (or ``due``): a new
    collector queues it, and each run queues the next. ``cfc worker`` (or the server's in-process
    worker) runs it; the collectors' own leases keep concurrent runs apart."""
    from cyberfusion.jobs.service import enqueue

    due = due or repository.next_collector_run(session)
    if due is not None:
        enqueue(session, kind=JOB_KIND, unique=True, delay=max(due - utcnow(), timedelta(0)))


def run_job(session: Session, payload: dict[str, Any], *, secret: str, tmp_dir: Path) -> dict[str, Any]:
    """The job: run the due (or the payload's named) collectors, then queue the next run.

    Each collector commits its pages in transactions of its own (with the same engine as the
    job), so what a run fetched stays even when the job fails; a failed collector is recorded on
    its row with its backoff, which the next job's time follows."""
    names = payload.get("names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise InvalidInput("must be a list of collector names", field="names")
    factory = make_sessionmaker(session.get_bind())  # the job's engine
    reports = run(factory, secret=secret, tmp_dir=tmp_dir, names=names or None, due_only=not names)
    schedule(session)
    return {"runs": [r.as_dict() for r in reports]}


def work(factory: sessionmaker[Session], *, secret: str, tmp_dir: Path, idle_sleep: float = 30.0,
         stop: Callable[[], bool] = lambda: False) -> int:
    """The background loop: run due collectors until stopped; returns how many runs were made."""
    owner = f"{socket.gethostname()}:{os.getpid()}"
    runs = 0
    while not stop():
        reports = run(factory, secret=secret, tmp_dir=tmp_dir, owner=owner)
        runs += len(reports)
        if not reports:
            deadline = time.monotonic() + idle_sleep
            while time.monotonic() < deadline and not stop():
                time.sleep(min(1.0, idle_sleep))
    return runs


__all__ = ["add", "listing", "remove", "run", "run_job", "schedule", "work", "RunReport", "KINDS", "JOB_KIND",
           "seal", "unseal"]
