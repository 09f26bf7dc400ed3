"""Watchlists and alerts: every item type, policy and warninglists, deduplication, batching per
recipient per interval, signed webhooks with retry/backoff/dead-letter, e-mail files."""

from __future__ import annotations

import email
import json
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cyberfusion.audit.models import AuditEntry
from cyberfusion.config import get_settings
from cyberfusion.db import transaction, utcnow
from cyberfusion.errors import Forbidden, InvalidInput
from cyberfusion.fusion import alerts, warninglists, watch
from cyberfusion.fusion.models import Alert, Delivery
from cyberfusion.jobs import service as jobs
from cyberfusion.jobs.models import Job
from fusion.fusion_helpers import WARNINGLISTS, give, indicator


def _settings(**changes):
    base = {"webhook_allow_private": True, "webhook_backoff_seconds": 10, "webhook_max_attempts": 3,
            "alert_interval_seconds": 60}
    return get_settings().model_copy(update=base | changes)


def _watch(world, key, items, *, purpose="investigation", scope="member", **kw):
    with transaction(world.factory) as s:
        wl, secret = watch.create_watchlist(s, viewer=world.viewer(key), name=f"{key} list", purpose=purpose,
                                            scope=scope, items=items, **kw)
        return wl.id, secret


def _inbox(world, key, purpose="investigation"):
    with transaction(world.factory) as s:
        return alerts.inbox(s, viewer=world.viewer(key), purpose=purpose)


def _seen(world, key):
    return sorted((a["match"]["type"], a["match"]["watched"], (a.get("observable") or {}).get("value"))
                  for a in _inbox(world, key))


def _deliver(world, now, **changes):
    with transaction(world.factory) as s:
        return alerts.deliver_pending(s, now=now, settings=_settings(**changes))


@pytest.fixture
def receiver():
    """A webhook receiver on 127.0.0.1: records requests, answers the queued statuses (then 200)."""
    class Receiver:
        statuses: list[int] = []
        requests: list[tuple[dict, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            Receiver.requests.append((dict(self.headers), body))
            status = Receiver.statuses.pop(0) if Receiver.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    Receiver.requests, Receiver.statuses = [], []
    yield Receiver
    server.shutdown()
    server.server_close()


# --- what raises an alert ----------------------------------------------------------------------

def test_every_item_type_raises_its_alert(world, tmp_path):
    _watch(world, "analyst", [{"type": "value", "value": "203.0.113.5"}, {"type": "cidr", "value": "198.51.100.0/24"},
                              {"type": "domain", "value": "Example.ORG"}, {"type": "keyword", "value": "Emotet"},
                              {"type": "country", "value": "fr"}, {"type": "category", "value": "ransomware"}])
    loader = indicator("sha256", "b" * 64) | {"name": "Emotet loader"}
    give(world, tmp_path, "vendor", [indicator("ipv4-addr", "203.0.113.5"), indicator("ipv4-addr", "198.51.100.9"),
                                     indicator("url", "https://x.sub.example.org/p"), loader,
                                     indicator("domain-name", "shop.example.fr"),
                                     indicator("domain-name", "example.com")])
    give(world, tmp_path, "bank", [indicator("ipv4-addr", "192.0.2.44")], category="ransomware")
    assert _seen(world, "analyst") == [
        ("category", "ransomware", None),
        ("cidr", "198.51.100.0/24", "198.51.100.9"),
        ("country", "FR", "shop.example.fr"),
        ("domain", "example.org", "https://x.sub.example.org/p"),
        ("keyword", "emotet", None),
        ("value", "203.0.113.5", "203.0.113.5"),
    ]
    category = [a for a in _inbox(world, "analyst") if a["match"]["type"] == "category"][0]
    assert category["objects"] == 1 and "object" not in category
    keyword = [a for a in _inbox(world, "analyst") if a["match"]["type"] == "keyword"][0]
    assert keyword["object"] == {"id": loader["id"], "type": "indicator"}


def test_alerts_follow_the_policy_and_skip_warninglisted_values(world, tmp_path):
    with transaction(world.factory) as s:
        warninglists.import_paths(s, [WARNINGLISTS / "rfc1918"])
    for key in ("analyst", "telco"):
        _watch(world, key, [{"type": "cidr", "value": "203.0.113.0/24"}, {"type": "value", "value": "10.1.1.1"}])
    give(world, tmp_path, "bank", [indicator("ipv4-addr", "203.0.113.20"), indicator("ipv4-addr", "10.1.1.1")],
         tlp="amber")
    assert _seen(world, "analyst") == [("cidr", "203.0.113.0/24", "203.0.113.20")]
    assert _seen(world, "telco") == []  # GREEN ceiling: the AMBER report raises nothing for telco
    # What could be read then but not now is not shown: the inbox applies the policy at read time.
    with transaction(world.factory) as s:
        assert alerts.inbox(s, viewer=world.viewer("analyst"), purpose="research") == []


def test_alerts_are_deduplicated_per_recipient(world, tmp_path):
    _watch(world, "analyst", [{"type": "value", "value": "203.0.113.30"}, {"type": "cidr", "value": "203.0.113.0/28"}])
    _watch(world, "analyst", [{"type": "domain", "value": "example.net"}])
    _watch(world, "analyst", [{"type": "value", "value": "203.0.113.30"}], scope="organisation")
    a = indicator("ipv4-addr", "203.0.113.30")
    give(world, tmp_path, "vendor", [a])
    give(world, tmp_path, "bank", [a])  # the same object again, from another source
    give(world, tmp_path, "telco", [indicator("ipv4-addr", "203.0.113.30",
                                              stix_id="indicator--00000000-0000-4000-8000-0000000000c3")])
    with world.factory() as s:
        rows = s.execute(select(Alert.recipient, Alert.stix_id).order_by(Alert.id)).all()
    org = f"o:{world.orgs['host']}"
    me = f"m:{world.members['analyst']}"
    # one per recipient and (value, object): two objects, two recipients (the member, its organisation)
    assert sorted(rows) == sorted([(me, a["id"]), (org, a["id"]), (me, "indicator--00000000-0000-4000-8000-0000000000c3"),
                                   (org, "indicator--00000000-0000-4000-8000-0000000000c3")])
    # the organisation's alerts reach every member of the host centre that may read them
    assert len(_inbox(world, "expert")) == 2 and len(_inbox(world, "analyst")) == 4


def test_watchlist_rules(world):
    with pytest.raises(Forbidden):
        _watch(world, "vendor", [], scope="organisation")  # contributor/reader: not an org watchlist
    with pytest.raises(Forbidden):
        _watch(world, "uni", [])  # research only: cannot watch for investigation
    with pytest.raises(InvalidInput) as caught:
        _watch(world, "analyst", [{"type": "value", "value": "ok.example.com"}, {"type": "cidr", "value": "10.0.0.0/33"}])
    assert caught.value.field == "items.1.value"
    with pytest.raises(InvalidInput) as caught:
        _watch(world, "analyst", [], webhook_url="ftp://example.com/hook")
    assert caught.value.field == "webhook_url"
    wl_id, _ = _watch(world, "analyst", [{"type": "country", "value": ""}])
    with transaction(world.factory) as s:
        got = watch.get_watchlist(s, viewer=world.viewer("analyst"), watchlist_id=wl_id)
        assert [(i["type"], i["value"]) for i in got["items"]] == [("country", "SG")]  # its own country
        with pytest.raises(Exception) as caught:
            watch.get_watchlist(s, viewer=world.viewer("expert"), watchlist_id=wl_id)
        assert type(caught.value).__name__ == "NotFound"


# --- delivery ---------------------------------------------------------------------------------

def test_webhook_is_signed_retried_with_backoff_then_delivered(world, tmp_path, receiver):
    _, secret = _watch(world, "analyst", [{"type": "value", "value": "203.0.113.40"}], webhook_url=receiver.url)
    give(world, tmp_path, "vendor", [indicator("ipv4-addr", "203.0.113.40")])
    receiver.statuses = [500, 503]
    t0 = utcnow() + timedelta(seconds=1)
    first = _deliver(world, t0)
    assert (first.created, first.delivered, first.failed) == (1, 0, 1)
    assert _deliver(world, t0 + timedelta(seconds=9)).failed == 0  # not due before the 10 s backoff
    assert _deliver(world, t0 + timedelta(seconds=10)).failed == 1
    assert _deliver(world, t0 + timedelta(seconds=29)).delivered == 0  # second backoff: 20 s
    done = _deliver(world, t0 + timedelta(seconds=30))
    assert (done.delivered, done.dead) == (1, 0)
    assert len(receiver.requests) == 3
    bodies = {body for _h, body in receiver.requests}
    assert len(bodies) == 1
    payload = json.loads(bodies.pop())
    assert [(a["observable"]["value"], a["match"]["type"]) for a in payload["alerts"]] == [("203.0.113.40", "value")]
    for n, (headers, body) in enumerate(receiver.requests, 1):
        assert headers["X-Cyberfusion-Attempt"] == str(n)
        assert alerts.verify_signature(secret, body, headers["X-Cyberfusion-Signature"])
        assert not alerts.verify_signature("wrong secret", body, headers["X-Cyberfusion-Signature"])
        assert not alerts.verify_signature(secret, body + b" ", headers["X-Cyberfusion-Signature"])
    with world.factory() as s:
        d = s.scalars(select(Delivery)).one()
        assert (d.status, d.attempts, d.payload) == ("delivered", 3, "")


def test_webhook_dead_letters_after_max_attempts_and_can_be_requeued(world, tmp_path, receiver):
    _watch(world, "analyst", [{"type": "value", "value": "203.0.113.41"}], webhook_url=receiver.url)
    give(world, tmp_path, "vendor", [indicator("ipv4-addr", "203.0.113.41")])
    receiver.statuses = [500] * 10
    t = utcnow() + timedelta(seconds=1)
    reports = [_deliver(world, t + timedelta(seconds=s)) for s in (0, 10, 30, 70, 1000)]
    assert [(r.failed, r.dead) for r in reports] == [(1, 0), (1, 0), (1, 1), (0, 0), (0, 0)]
    assert len(receiver.requests) == 3
    with transaction(world.factory) as s:
        d = s.scalars(select(Delivery)).one()
        assert (d.status, d.attempts, d.last_error) == ("dead", 3, "HTTP 500")
        assert json.loads(d.payload)["alerts"][0]["observable"]["value"] == "203.0.113.41"
        alerts.requeue(s, delivery_id=d.id)
    receiver.statuses = []
    assert _deliver(world, t + timedelta(seconds=1001)).delivered == 1


def test_private_addresses_are_refused_unless_allowed(world, tmp_path, receiver):
    _watch(world, "analyst", [{"type": "value", "value": "203.0.113.42"}], webhook_url=receiver.url)
    give(world, tmp_path, "vendor", [indicator("ipv4-addr", "203.0.113.42")])
    report = _deliver(world, utcnow() + timedelta(seconds=1), webhook_allow_private=False)
    assert (report.failed, len(receiver.requests)) == (1, 0)
    with world.factory() as s:
        assert s.scalars(select(Delivery.last_error)).one().startswith("refused: 127.0.0.1 resolves to a non-public")


def test_batches_per_recipient_per_interval_and_email_files(world, tmp_path, receiver):
    _watch(world, "analyst", [{"type": "cidr", "value": "203.0.113.0/24"}], webhook_url=receiver.url,
           email="soc@host.example")
    give(world, tmp_path, "vendor", [indicator("ipv4-addr", "203.0.113.1"), indicator("ipv4-addr", "203.0.113.2")])
    t0 = utcnow() + timedelta(seconds=1)
    first = _deliver(world, t0)
    assert (first.created, first.delivered) == (2, 2)  # one webhook call and one e-mail, two alerts each
    give(world, tmp_path, "bank", [indicator("ipv4-addr", "203.0.113.3")])
    early = _deliver(world, t0 + timedelta(seconds=30))
    assert (early.created, early.waiting) == (0, 1)  # within the 60 s interval: held back
    later = _deliver(world, t0 + timedelta(seconds=61))
    assert later.created == 2
    counts = [len(json.loads(body)["alerts"]) for _h, body in receiver.requests]
    assert counts == [2, 1]
    mails = sorted((get_settings().data_dir / "mail").glob("*.eml"))
    assert len(mails) == 2
    message = email.message_from_bytes(mails[0].read_bytes())
    assert (message["To"], message["Subject"]) == ("soc@host.example", "[cyberfusion] 2 new alerts")
    text_part = message.get_payload()[0].get_payload(decode=True).decode()
    assert "203.0.113.1" in text_part and "203.0.113.2" in text_part
    with world.factory() as s:
        assert s.scalar(select(func.count()).select_from(Alert).where(Alert.batched_at.is_(None))) == 0


def test_delivery_rechecks_the_policy(world, tmp_path, receiver):
    """An alert whose intelligence expired before delivery is not sent."""
    _watch(world, "analyst", [{"type": "value", "value": "203.0.113.43"}], webhook_url=receiver.url)
    give(world, tmp_path, "vendor", [indicator("ipv4-addr", "203.0.113.43")],
         expires_at=utcnow() + timedelta(seconds=2))
    report = _deliver(world, utcnow() + timedelta(minutes=5))
    assert (report.created, len(receiver.requests)) == (0, 0)



# --- delivery through the job queue (`cfc worker`) -------------------------------------------------

@pytest.fixture
def queue_settings(world, monkeypatch):
    """Settings the worker reads itself: 1 s backoff, 3 attempts, no batching interval."""
    for name, value in (("WEBHOOK_ALLOW_PRIVATE", "true"), ("WEBHOOK_BACKOFF_SECONDS", "1"),
                        ("WEBHOOK_MAX_ATTEMPTS", "3"), ("ALERT_INTERVAL_SECONDS", "0")):
        monkeypatch.setenv(f"CFC_{name}", value)
    get_settings.cache_clear()


ALERT_JOBS = [alerts.DELIVER_JOB, alerts.SEND_JOB]  # imports also queue other packages' jobs


def _jobs(world):
    with world.factory() as s:
        return [(j.kind, j.status, j.attempts)
                for j in s.scalars(select(Job).where(Job.kind.in_(ALERT_JOBS)).order_by(Job.id))]


def _run_worker(world):
    with world.factory() as s:
        due = min(s.scalars(select(Job.run_after).where(Job.status == "queued", Job.kind.in_(ALERT_JOBS))),
                  default=None)
    if due is not None and due > utcnow():
        time.sleep((due - utcnow()).total_seconds() + 0.05)
    return jobs.run_batch(world.factory, worker="test-worker", kinds=ALERT_JOBS)


def test_the_worker_sends_a_queued_webhook_and_retries_it_with_backoff(world, tmp_path, receiver, queue_settings):
    _, secret = _watch(world, "analyst", [{"type": "cidr", "value": "203.0.113.48/29"}], webhook_url=receiver.url)
    give(world, tmp_path, "vendor", [indicator("ipv4-addr", "203.0.113.50")])
    give(world, tmp_path, "bank", [indicator("ipv4-addr", "203.0.113.52")])
    # The imports raised alerts and queued one batching job between them.
    assert _jobs(world) == [(alerts.DELIVER_JOB, "queued", 0)]
    receiver.statuses = [503]
    assert _run_worker(world) == 1  # batches: one delivery, handed to its own job
    with world.factory() as s:
        d = s.scalars(select(Delivery)).one()
        assert (d.status, d.attempts, len(d.alert_ids)) == ("queued", 0, 2)
    assert _jobs(world) == [(alerts.DELIVER_JOB, "done", 1), (alerts.SEND_JOB, "queued", 0)]
    before = utcnow()
    assert _run_worker(world) == 1  # first attempt: 503
    after = utcnow()
    with world.factory() as s:
        d = s.scalars(select(Delivery)).one()
        job = s.scalars(select(Job).where(Job.kind == alerts.SEND_JOB)).one()
        assert (d.status, d.attempts, d.last_error) == ("queued", 1, "HTTP 503")
        assert (job.status, job.attempts, job.last_error) == ("queued", 1, "DeliveryFailed: HTTP 503")
        assert before + timedelta(seconds=1) <= job.run_after <= after + timedelta(seconds=1)  # the webhook backoff
        assert d.next_attempt_at == job.run_after
    assert jobs.run_batch(world.factory, worker="test-worker", kinds=ALERT_JOBS) == 0  # not due before the backoff
    assert len(receiver.requests) == 1
    assert _run_worker(world) == 1  # second attempt: 200
    with world.factory() as s:
        d = s.scalars(select(Delivery)).one()
        assert (d.status, d.attempts, d.last_error, d.payload) == ("delivered", 2, None, "")
    assert _jobs(world) == [(alerts.DELIVER_JOB, "done", 1), (alerts.SEND_JOB, "done", 2)]
    assert [h["X-Cyberfusion-Attempt"] for h, _b in receiver.requests] == ["1", "2"]
    for headers, body in receiver.requests:
        assert alerts.verify_signature(secret, body, headers["X-Cyberfusion-Signature"])
        assert sorted(a["observable"]["value"] for a in json.loads(body)["alerts"]) == ["203.0.113.50", "203.0.113.52"]
    # The inline path does not touch what the queue owns.
    assert _deliver(world, utcnow() + timedelta(hours=1)).as_dict() == {
        "created": 0, "delivered": 0, "failed": 0, "dead": 0, "waiting": 0, "queued": 0}


def test_the_worker_dead_letters_after_max_attempts_then_cfc_worker_sends_the_requeued_one(
        world, tmp_path, receiver, queue_settings):
    _watch(world, "analyst", [{"type": "value", "value": "203.0.113.51"}], webhook_url=receiver.url,
           email="soc@host.example")
    give(world, tmp_path, "vendor", [indicator("ipv4-addr", "203.0.113.51")])
    receiver.statuses = [500] * 10
    runs = [_run_worker(world) for _ in range(4)]  # batch (webhook + e-mail), then 3 failures at 0, +1 s, +2 s
    assert runs == [1, 2, 1, 1]
    assert _run_worker(world) == 0  # nothing left: dead-lettered
    assert len(receiver.requests) == 3
    with world.factory() as s:
        webhook = s.scalars(select(Delivery).where(Delivery.channel == "webhook")).one()
        mail = s.scalars(select(Delivery).where(Delivery.channel == "email")).one()
        assert (webhook.status, webhook.attempts, webhook.last_error) == ("dead", 3, "HTTP 500")
        assert json.loads(webhook.payload)["alerts"][0]["observable"]["value"] == "203.0.113.51"
        assert (mail.status, mail.attempts) == ("delivered", 1)
        sends = [(j.status, j.attempts, j.last_error) for j in
                 s.scalars(select(Job).where(Job.kind == alerts.SEND_JOB).order_by(Job.id))]
        assert sends == [("dead", 3, "DeliveryFailed: HTTP 500"), ("done", 1, None)]
        dead = [a for a in s.scalars(select(AuditEntry).where(AuditEntry.action == "fusion.alerts.dead"))]
        assert [a.detail["delivery_id"] for a in dead] == [webhook.id]
    assert len(sorted((get_settings().data_dir / "mail").glob("*.eml"))) == 1
    with transaction(world.factory) as s:
        alerts.requeue(s, delivery_id=webhook.id)
    receiver.statuses = []
    # The real command, in its own process, against the same database.
    cfc = Path(sys.executable).with_name("cfc")
    for _ in range(2):  # batching job (hands the requeued delivery over), then the send job
        out = subprocess.run([str(cfc), "worker", "--once", "--format", "json"], capture_output=True, text=True,
                             timeout=120, check=True)
        assert json.loads(out.stdout)["jobs_run"] >= 1
        if len(receiver.requests) == 4:
            break
    assert len(receiver.requests) == 4
    with world.factory() as s:
        d = s.get(Delivery, webhook.id)
        assert (d.status, d.attempts, d.payload) == ("delivered", 1, "")


# --- over HTTP --------------------------------------------------------------------------------------

def test_watchlists_and_inbox_over_http(client, world, tmp_path):
    h = {"Authorization": f"Bearer {world.token('analyst')}"}
    r = client.post("/api/v1/watchlists", headers=h, json={
        "name": "infra", "purpose": "investigation", "webhook_url": "https://hooks.example.org/x",
        "items": [{"type": "cidr", "value": "203.0.113.0/24"}]})
    assert r.status_code == 201, r.text
    created = r.json()
    assert len(created["webhook_secret"]) >= 40 and created["items"][0]["value"] == "203.0.113.0/24"
    assert "webhook_secret" not in client.get(f"/api/v1/watchlists/{created['id']}", headers=h).json()
    added = client.post(f"/api/v1/watchlists/{created['id']}/items", headers=h,
                        json={"type": "domain", "value": "bücher.de"}).json()
    assert added["value"] == "xn--bcher-kva.de"
    bad = client.post("/api/v1/watchlists", headers=h, json={"name": "x", "purpose": "investigation",
                                                            "items": [{"type": "fuzzy", "value": "a"}]})
    assert (bad.status_code, bad.json()["field"]) == (422, "items.0.type")
    give(world, tmp_path, "vendor", [indicator("ipv4-addr", "203.0.113.44")])
    inbox = client.get("/api/v1/alerts", params={"purpose": "investigation"}, headers=h).json()
    assert [(a["match"]["type"], a["observable"]["value"], a["read"]) for a in inbox] == [
        ("cidr", "203.0.113.44", False)]
    marked = client.post("/api/v1/alerts/read", headers=h, json={"ids": [inbox[0]["id"]]}).json()
    assert marked == {"marked": 1}
    assert client.get("/api/v1/alerts", params={"purpose": "investigation", "unread": True}, headers=h).json() == []
    assert client.delete(f"/api/v1/watchlists/{created['id']}", headers=h).status_code == 204
    assert client.get("/api/v1/watchlists", headers=h).json() == []


def test_country_of_each_kind():
    from cyberfusion.fusion.geo import country_of
    assert [country_of(k, v) for k, v in (
        ("ipv4-addr", "81.2.69.160"), ("ipv6-addr", "2a01:e0a::1"), ("ipv4-addr", "10.0.0.0/8"),
        ("domain-name", "shop.example.co.uk"), ("url", "https://x.example.fr/p"), ("email-addr", "a@b.example.de"),
        ("domain-name", "example.com"), ("iban", "FR1420041010050500013M02606"), ("phone", "+33142685300"),
        ("md5", "a" * 32))] == ["GB", "FR", None, "GB", "FR", "DE", None, "FR", "FR", None]
