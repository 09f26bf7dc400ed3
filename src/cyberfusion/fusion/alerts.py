"""The alert inbox, and delivering alerts in batches to webhooks and e-mail.

Alerts are deduplicated when raised (one per recipient per value and object) and batched
when delivered: ``deliver_pending`` gathers each recipient's new alerts into one message
per webhook or e-mail address, at most once per ``alert_interval_seconds``. Before anything
leaves, every alert is checked again through the policy gate for the watchlist's member and
purpose (retention or an agreement may have changed since it was raised).

Webhooks: an HTTP POST of JSON, signed ``X-Cyberfusion-Signature: t=<unix time>,v1=<hex>``
where hex = HMAC-SHA256(watchlist secret, "<unix time>.<body>"). Anything but a 2xx answer
is a failure: the delivery is retried after ``webhook_backoff_seconds`` × 2^(attempt-1) and
dead-lettered (status "dead", payload kept for inspection and ``requeue``) after
``webhook_max_attempts`` failures. E-mail is rendered as an RFC 5322 file in the mail
directory, or sent over SMTP when ``smtp_host`` is set.

Two ways to run it: in-process (``cfc alerts deliver``: batch, then attempt every due delivery
here, retrying on later calls), or through the job queue run by ``cfc worker``. An import that
raises alerts queues one ``fusion.alerts.deliver`` job (unless one is already waiting); that job
batches and hands each delivery to its own ``fusion.alerts.send`` job (delivery status
"queued"). The queue then owns the retries: backoff ``webhook_backoff_seconds`` × 2^(attempt-1),
dead after ``webhook_max_attempts`` (the delivery turns "dead" with the job, and ``requeue``
hands it over again). A batch job that had to hold recipients back for the interval queues the
next one ``alert_interval_seconds`` later.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import smtplib
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.config import Settings, get_settings
from cyberfusion.db import utcnow
from cyberfusion.errors import InvalidInput, NotFound
from cyberfusion.fusion import repository
from cyberfusion.fusion.models import Alert, Delivery, Watchlist
from cyberfusion.fusion.watch import viewer_of
from cyberfusion.jobs import service as jobs
from cyberfusion.jobs.models import Job
from cyberfusion.sharing import policy
from cyberfusion.sharing.viewer import Viewer

SIGNATURE_HEADER = "X-Cyberfusion-Signature"
DELIVER_JOB = "fusion.alerts.deliver"
SEND_JOB = "fusion.alerts.send"


class DeliveryFailed(Exception):
    pass


def recipients_of(viewer: Viewer) -> list[str]:
    return [f"m:{viewer.member_id}", f"o:{viewer.org_id}"]


def render(alert: Alert, watchlist_name: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": alert.id, "created_at": alert.created_at, "read": alert.read_at is not None,
        "watchlist": {"id": alert.watchlist_id, "name": watchlist_name},
        "match": {"type": alert.match_type, "watched": alert.matched},
        "purpose": alert.purpose,
    }
    if alert.kind:
        out["observable"] = {"kind": alert.kind, "value": alert.value}
    if alert.stix_id:
        out["object"] = {"id": alert.stix_id, "type": alert.object_type}
    if alert.match_type == "category":
        out["objects"] = alert.object_count
    return out


# --- the inbox -------------------------------------------------------------------------------------

def inbox(session: Session, *, viewer: Viewer, purpose: str, unread: bool = False, after_id: int | None = None,
          limit: int = 100) -> list[dict[str, Any]]:
    """The viewer's and its organisation's alerts that it may read now, for this purpose."""
    policy.require_purpose(viewer, purpose)
    if not 1 <= limit <= 500:
        raise InvalidInput("must be between 1 and 500", field="limit")
    rows = repository.inbox(session, viewer=viewer, purpose=purpose, recipients=recipients_of(viewer),
                            unread=unread, after_id=after_id, limit=limit)
    names = {w.id: w.name for w in repository.watchlists_for(session, org_id=viewer.org_id,
                                                             member_id=viewer.member_id)}
    audit.record(session, action="fusion.alerts.read", viewer=viewer, purpose=purpose,
                 object_ids=sorted({a.stix_id for a in rows if a.stix_id}), detail={"alerts": len(rows)})
    return [render(a, names.get(a.watchlist_id)) for a in rows]


def mark_read(session: Session, *, viewer: Viewer, ids: list[int], now: datetime | None = None) -> int:
    if not ids or len(ids) > 10_000:
        raise InvalidInput("give 1 to 10,000 alert ids", field="ids")
    return repository.mark_read(session, ids=ids, recipients=recipients_of(viewer), now=now or utcnow())


# --- delivery ------------------------------------------------------------------------------------

@dataclass
class DeliveryReport:
    created: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    waiting: int = 0  # recipients whose interval has not passed
    queued: int = 0  # deliveries handed to the job queue
    delivery_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "delivered": self.delivered, "failed": self.failed, "dead": self.dead,
                "waiting": self.waiting, "queued": self.queued}


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, body: bytes, header: str, *, tolerance: int | None = 300,
                     now: float | None = None) -> bool:
    """What a receiver does: recompute the HMAC and compare in constant time."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if tolerance is not None and abs((now or time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def deliver_pending(session: Session, *, now: datetime | None = None, settings: Settings | None = None,
                    limit: int = 200, queue: bool = False) -> DeliveryReport:
    """Batch new alerts per recipient, then send every delivery that is due: in-process, or with
    ``queue`` by handing each to a ``fusion.alerts.send`` job (sent by ``cfc worker``)."""
    settings = settings or get_settings()
    now = now or utcnow()
    report = DeliveryReport()
    _batch(session, now=now, settings=settings, report=report)
    for d in repository.deliveries_due(session, now=now, limit=limit):
        if queue:
            _hand_over(session, d, settings=settings)
            report.queued += 1
        else:
            _attempt(session, d, settings=settings, now=now, report=report)
    session.flush()
    if report.created or report.delivered or report.dead or report.queued:
        audit.record(session, action="fusion.alerts.deliver", detail=report.as_dict())
    return report


# --- delivery through the job queue ------------------------------------------------------------------

def schedule(session: Session) -> Job:
    """Queue a batching job unless one is already waiting (called when alerts are raised)."""
    return jobs.enqueue(session, kind=DELIVER_JOB, unique=True)


def _hand_over(session: Session, d: Delivery, *, settings: Settings) -> None:
    """From now on the delivery's retries are its job's: what is left of the attempts it may make."""
    d.status = "queued"
    jobs.enqueue(session, kind=SEND_JOB, payload={"delivery_id": d.id},
                 max_attempts=max(1, settings.webhook_max_attempts - d.attempts))


def send(session: Session, *, delivery_id: int, settings: Settings | None = None,
         now: datetime | None = None) -> dict[str, Any]:
    """One attempt at one queued delivery; raises DeliveryFailed for the queue to retry it."""
    settings = settings or get_settings()
    d = repository.delivery(session, delivery_id)
    if d is None or d.status != "queued":
        # Sent by `cfc alerts deliver` meanwhile, or requeued (a new job carries it): nothing to do.
        return {"delivery_id": delivery_id, "status": d.status if d else "gone", "sent": False}
    # Nothing is written before the attempt: on SQLite a pending write would hold the database's
    # single write lock for as long as the receiver takes to answer.
    _send(session, d, attempt=d.attempts + 1, settings=settings)
    d.attempts += 1
    d.status, d.delivered_at, d.last_error = "delivered", now or utcnow(), None
    d.payload = ""
    session.flush()
    audit.record(session, action="fusion.alerts.sent", detail={"delivery_id": d.id, "channel": d.channel,
                                                               "attempts": d.attempts})
    return {"delivery_id": d.id, "status": d.status, "sent": True, "attempts": d.attempts}


def _send_failed(session: Session, payload: dict[str, Any], job: Job) -> None:
    """The queue recorded a failed attempt: the delivery follows its job (retry time, or dead)."""
    d = repository.delivery(session, int(payload["delivery_id"]))
    if d is None or d.status != "queued":
        return
    d.attempts += 1
    d.last_error = (job.last_error or "").removeprefix(f"{DeliveryFailed.__name__}: ")[:1000]
    if job.status == "dead":
        d.status = "dead"
        audit.record(session, action="fusion.alerts.dead", detail={"delivery_id": d.id, "attempts": d.attempts,
                                                                   "error": d.last_error})
    else:
        d.next_attempt_at = job.run_after
    session.flush()


def _send_backoff() -> timedelta:
    return timedelta(seconds=get_settings().webhook_backoff_seconds)


@jobs.handler(SEND_JOB, retry=jobs.Retry(backoff=_send_backoff, on_failure=_send_failed))
def _send_job(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    return send(session, delivery_id=int(payload["delivery_id"]))


@jobs.handler(DELIVER_JOB)
def _deliver_job(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    settings = get_settings()
    report = deliver_pending(session, settings=settings, queue=True)
    if report.waiting:  # recipients held back for the interval: look again when it has passed
        jobs.enqueue(session, kind=DELIVER_JOB, unique=True, delay=timedelta(seconds=settings.alert_interval_seconds))
    return report.as_dict()


def _batch(session: Session, *, now: datetime, settings: Settings, report: DeliveryReport) -> None:
    pending = repository.unbatched_alerts(session, before=now)
    if not pending:
        return
    by_recipient: dict[str, list[tuple[Alert, Watchlist]]] = defaultdict(list)
    for alert, wl in pending:
        by_recipient[alert.recipient].append((alert, wl))
    last = repository.last_delivery_at(session, list(by_recipient))
    interval = timedelta(seconds=settings.alert_interval_seconds)
    viewers: dict[int, Viewer | None] = {}
    for recipient, items in by_recipient.items():
        has_channel = any(wl.webhook_url or wl.email for _a, wl in items)
        if has_channel and recipient in last and now - last[recipient] < interval:
            report.waiting += 1
            continue
        targets: dict[tuple[str, str, int | None], list[tuple[Alert, Watchlist]]] = defaultdict(list)
        for alert, wl in items:
            if wl.webhook_url:
                targets[("webhook", wl.webhook_url, wl.id)].append((alert, wl))
            if wl.email:
                targets[("email", wl.email, None)].append((alert, wl))
        for (channel, target, wl_id), group in targets.items():
            sendable = _still_readable(session, group, viewers, now)
            if not sendable:
                continue
            d = Delivery(recipient=recipient, channel=channel, target=target, watchlist_id=wl_id,
                         alert_ids=[a.id for a, _w in sendable], payload="", status="pending", attempts=0,
                         next_attempt_at=now, created_at=now)
            repository.add(session, d)
            d.payload = json.dumps({"type": "cyberfusion.alerts", "delivery_id": d.id, "recipient": recipient,
                                    "created_at": now.isoformat(),
                                    "alerts": [_jsonable(render(a, w.name)) for a, w in sendable]},
                                   ensure_ascii=False, separators=(",", ":"))
            report.created += 1
            report.delivery_ids.append(d.id)
        repository.set_batched(session, [a.id for a, _w in items], now)


def _still_readable(session: Session, group: list[tuple[Alert, Watchlist]],
                    viewers: dict[int, Viewer | None], now: datetime) -> list[tuple[Alert, Watchlist]]:
    by_list: dict[int, list[tuple[Alert, Watchlist]]] = defaultdict(list)
    for alert, wl in group:
        by_list[wl.id].append((alert, wl))
    out = []
    for items in by_list.values():
        wl = items[0][1]
        if wl.member_id not in viewers:
            viewers[wl.member_id] = viewer_of(session, wl.member_id)
        viewer = viewers[wl.member_id]
        if viewer is None:
            continue
        ok = repository.readable_alert_ids(session, viewer=viewer, purpose=wl.purpose, ids=[a.id for a, _ in items],
                                           now=now)
        out.extend((a, w) for a, w in items if a.id in ok)
    return sorted(out, key=lambda x: x[0].id)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _send(session: Session, d: Delivery, *, attempt: int, settings: Settings) -> None:
    if d.channel == "webhook":
        _post(d, repository.watchlist(session, d.watchlist_id) if d.watchlist_id else None, settings, attempt)
    else:
        _mail(d, settings)


def _attempt(session: Session, d: Delivery, *, settings: Settings, now: datetime, report: DeliveryReport) -> None:
    d.attempts += 1
    try:
        _send(session, d, attempt=d.attempts, settings=settings)
    except DeliveryFailed as exc:
        d.last_error = str(exc)[:1000]
        report.failed += 1
        if d.attempts >= settings.webhook_max_attempts:
            d.status = "dead"
            report.dead += 1
        else:
            d.next_attempt_at = now + timedelta(seconds=settings.webhook_backoff_seconds * 2 ** (d.attempts - 1))
        return
    d.status, d.delivered_at, d.last_error = "delivered", now, None
    d.payload = ""  # sent: the intelligence it carried is not kept a second time
    report.delivered += 1


def _refuse_private(url: str, settings: Settings) -> None:
    if settings.webhook_allow_private:
        return
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        raise DeliveryFailed(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise DeliveryFailed(f"refused: {host} resolves to a non-public address ({address}); "
                                 "set CFC_WEBHOOK_ALLOW_PRIVATE=true to allow")


def _post(d: Delivery, wl: Watchlist | None, settings: Settings, attempt: int) -> None:
    if wl is None or not wl.webhook_secret:
        raise DeliveryFailed("the watchlist of this webhook is gone")
    _refuse_private(d.target, settings)
    body = d.payload.encode()
    headers = {"Content-Type": "application/json", "User-Agent": "cyberfusion-webhook/1",
               SIGNATURE_HEADER: sign(wl.webhook_secret, body, int(time.time())),
               "X-Cyberfusion-Delivery": str(d.id), "X-Cyberfusion-Attempt": str(attempt)}
    try:
        with httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False) as client:
            response = client.post(d.target, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"HTTP {response.status_code}")


def mail_dir(settings: Settings) -> Path:
    return settings.mail_dir or settings.data_dir / "mail"


def _mail(d: Delivery, settings: Settings) -> None:
    payload = json.loads(d.payload)
    alerts = payload["alerts"]
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = d.target
    msg["Subject"] = f"[cyberfusion] {len(alerts)} new alert{'s' if len(alerts) != 1 else ''}"
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or "cyberfusion.invalid")
    lines = [f"{len(alerts)} new alert(s) on your watchlists:", ""]
    for a in alerts:
        what = a.get("observable") or {}
        obj = a.get("object") or {}
        lines.append(f"- [{a['watchlist']['name']}] {a['match']['type']} {a['match']['watched']}: "
                     f"{what.get('kind', '')} {what.get('value', '')} {obj.get('id', '')}".rstrip())
    lines += ["", "Read them in your inbox: GET /api/v1/alerts?purpose=" + (alerts[0]["purpose"] if alerts else ""),
              "Handle according to the markings of the intelligence; do not forward."]
    msg.set_content("\n".join(lines))
    msg.add_attachment(json.dumps(payload, indent=2, ensure_ascii=False).encode(), maintype="application",
                       subtype="json", filename=f"alerts-{d.id}.json")
    if settings.smtp_host:
        try:
            with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.webhook_timeout_seconds) as smtp:
                if settings.smtp_starttls:
                    smtp.starttls()
                if settings.smtp_user:
                    smtp.login(settings.smtp_user, settings.smtp_password or "")
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"SMTP: {exc}") from None
        return
    folder = mail_dir(settings)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"delivery-{d.id:08d}.eml"
        path.write_bytes(bytes(msg))
    except OSError as exc:
        raise DeliveryFailed(f"cannot write {folder}: {exc}") from None


def list_deliveries(session: Session, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    if status is not None and status not in ("pending", "queued", "delivered", "dead"):
        raise InvalidInput("one of: pending, queued, delivered, dead", field="status")
    return [{"id": d.id, "recipient": d.recipient, "channel": d.channel, "target": d.target, "status": d.status,
             "attempts": d.attempts, "alerts": len(d.alert_ids or []), "next_attempt_at": d.next_attempt_at,
             "last_error": d.last_error, "delivered_at": d.delivered_at}
            for d in repository.deliveries(session, status=status, limit=limit)]


def requeue(session: Session, *, delivery_id: int, now: datetime | None = None) -> Delivery:
    """Send a dead-lettered delivery again (after the receiver is fixed)."""
    d = repository.delivery(session, delivery_id)
    if d is None:
        raise NotFound(f"no delivery {delivery_id}")
    if d.status != "dead":
        raise InvalidInput(f"delivery {delivery_id} is {d.status}, not dead", field="delivery")
    d.status, d.attempts, d.next_attempt_at = "pending", 0, now or utcnow()
    session.flush()
    schedule(session)  # for `cfc worker`; `cfc alerts deliver` picks it up as well, whichever comes first
    audit.record(session, action="fusion.alerts.requeue", detail={"delivery_id": d.id})
    return d


__all__ = ["inbox", "mark_read", "deliver_pending", "schedule", "send", "sign", "verify_signature", "requeue",
           "list_deliveries", "DeliveryReport", "SIGNATURE_HEADER", "DELIVER_JOB", "SEND_JOB", "render"]
