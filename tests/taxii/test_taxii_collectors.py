"""Collectors pulling TAXII 2.1 collections (this server and medallion) and MISP feeds over HTTP on
127.0.0.1: bookmarks, resuming after a failure, retries with backoff, incremental MISP pulls, the CLI."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cyberfusion.db import transaction, utcnow
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.taxii import collectors, repository
from cyberfusion.taxii.collections import inbox
from sharing.helpers import indicator
from taxii.support import TAXII, free_port, medallion_default_data

SECRET = "collector-test-secret-0123456789abcdefghij"


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(collectors, "HTTP_BACKOFF", 0.01)


def _post(live_server: str, world, key: str, objects: list[dict]) -> None:  # type: ignore[no-untyped-def]
    r = httpx.post(f"{live_server}/taxii2/cfc/collections/inbox/objects/", content=json.dumps({"objects": objects}),
                   auth=(f"{key}@example.org", world.token(key)), headers={"Accept": TAXII, "Content-Type": TAXII},
                   timeout=120)
    assert r.status_code == 202 and r.json()["success_count"] == len(objects), r.text


def _objects(prefix: int, n: int) -> list[dict]:
    return [indicator("ipv4-addr", f"10.{prefix}.{i // 250}.{i % 250 + 1}") for i in range(n)]


def _add(world, tmp_path, **kw):  # type: ignore[no-untyped-def]
    with transaction(world.factory) as s:
        return collectors.add(s, member_email="intl@example.org", handling=HandlingSpec(tlp="green"),
                              secret=SECRET, **kw).id


def _run(world, tmp_path, name, **kw):  # type: ignore[no-untyped-def]
    reports = collectors.run(world.factory, secret=SECRET, tmp_dir=tmp_path / "tmp", names=[name], due_only=False, **kw)
    assert len(reports) == 1
    return reports[0]


def _row(world, name):  # type: ignore[no-untyped-def]
    with world.factory() as s:
        return repository.collector_by_name(s, name)


def _stored(world) -> int:  # type: ignore[no-untyped-def]
    """Objects the intl organisation (the collectors' partner) holds."""
    from sqlalchemy import func, select

    from cyberfusion.intel.models import StixObject
    with world.factory() as s:
        return s.scalar(select(func.count()).select_from(StixObject)
                        .where(StixObject.organisation_id == world.orgs["intl"])) or 0


def _vendor_inbox_url(live_server: str, world) -> str:  # type: ignore[no-untyped-def]
    return f"{live_server}/taxii2/cfc/collections/{inbox(world.viewer('vendor')).id}/"


class _Flaky(httpx.BaseTransport):
    """Passes requests to the network; fails the ones whose numbers are listed."""

    def __init__(self, fail: set[int], status: int | None = None) -> None:
        self.inner, self.fail, self.status, self.count = httpx.HTTPTransport(), fail, status, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        if self.count in self.fail:
            if self.status is None:
                raise httpx.ConnectError("connection refused (test)", request=request)
            return httpx.Response(self.status, request=request, headers={"Retry-After": "0"})
        return self.inner.handle_request(request)


def test_taxii_pull_with_bookmark_and_incremental_runs(live_server, world, tmp_path):
    _post(live_server, world, "vendor", _objects(1, 250))
    _add(world, tmp_path, name="vendor-taxii", kind="taxii21", url=_vendor_inbox_url(live_server, world),
         username="vendor@example.org", password=world.token("vendor"), page_size=100)
    report = _run(world, tmp_path, "vendor-taxii")
    assert report.as_dict() == {"name": "vendor-taxii", "status": "ok", "pages": 3, "objects": 250, "skipped": 0,
                                "error": None}
    row = _row(world, "vendor-taxii")
    assert (row.status, row.failures, row.run_pages, row.run_objects, row.total_objects) == ("ok", 0, 3, 250, 250)
    assert row.state.get("added_after", "").endswith("Z") and "next" not in row.state
    assert row.lease_owner is None and row.next_run_at > utcnow() + timedelta(minutes=59)
    assert _stored(world) == 250
    _post(live_server, world, "vendor", _objects(2, 30))
    assert (_run(world, tmp_path, "vendor-taxii").objects, _stored(world)) == (30, 280)
    assert _run(world, tmp_path, "vendor-taxii").as_dict()["objects"] == 0
    # What was pulled is the partner's contribution, with the collector's handling.
    r = httpx.get(f"{live_server}/taxii2/cfc/collections/inbox/manifest/", params={"limit": 1},
                  auth=("intl@example.org", world.token("intl")), headers={"Accept": TAXII})
    assert r.status_code == 200 and r.json()["more"] is True
    with world.factory() as s:
        assert collectors.listing(s)[0]["total_objects"] == 280


def test_a_failed_run_backs_off_and_the_next_one_resumes(live_server, world, tmp_path, monkeypatch):
    monkeypatch.setattr(collectors, "HTTP_ATTEMPTS", 1)
    _post(live_server, world, "vendor", _objects(3, 250))
    _add(world, tmp_path, name="flaky", kind="taxii21", url=_vendor_inbox_url(live_server, world),
         username="vendor@example.org", password=world.token("vendor"), page_size=100)
    report = _run(world, tmp_path, "flaky", transport=_Flaky({3}))
    assert (report.status, report.pages, report.objects) == ("error", 2, 200)
    assert "ConnectError" in report.error
    row = _row(world, "flaky")
    assert (row.status, row.failures, row.run_objects) == ("error", 1, 200)
    assert "next" in row.state and row.next_run_at > utcnow() + timedelta(seconds=50)
    # Not due yet: a worker leaves it alone.
    assert collectors.run(world.factory, secret=SECRET, tmp_dir=tmp_path) == []
    report = _run(world, tmp_path, "flaky", transport=_Flaky({1}))
    assert (report.status, _row(world, "flaky").failures) == ("error", 2)
    assert _row(world, "flaky").next_run_at > utcnow() + timedelta(seconds=110)  # 60 s, doubled
    report = _run(world, tmp_path, "flaky")
    assert (report.status, report.objects, _stored(world)) == ("ok", 50, 250)  # resumed: nothing twice
    assert (_row(world, "flaky").failures, _row(world, "flaky").last_error) == (0, None)


def test_collectors_run_as_background_jobs_that_queue_their_next_run(live_server, world, tmp_path, monkeypatch):
    """Adding a collector queues a `collectors.run` job; the worker runs it (the same run_batch as
    `cfc worker`), and each run queues the next for when the earliest collector is due again."""
    from sqlalchemy import select

    from cyberfusion.jobs import handlers  # noqa: F401 - registers the job kinds
    from cyberfusion.jobs.models import Job
    from cyberfusion.jobs.service import run_batch

    from cyberfusion.config import get_settings

    monkeypatch.setenv("CFC_SECRET_KEY", SECRET)  # the key the collectors' credentials were sealed with
    get_settings.cache_clear()

    def jobs() -> list[tuple[str, str, object]]:
        with world.factory() as s:
            return [(j.kind, j.status, j.run_after) for j in
                    s.scalars(select(Job).where(Job.kind == "collectors.run").order_by(Job.id))]

    _post(live_server, world, "vendor", _objects(6, 120))
    before = utcnow()
    _add(world, tmp_path, name="job-pull", kind="taxii21", url=_vendor_inbox_url(live_server, world),
         username="vendor@example.org", password=world.token("vendor"), page_size=50, interval_seconds=600)
    _add(world, tmp_path, name="job-pull-2", kind="taxii21", url=_vendor_inbox_url(live_server, world),
         username="vendor@example.org", password=world.token("vendor"), page_size=100, interval_seconds=900)
    queued = jobs()
    assert [(k, st) for k, st, _ in queued] == [("collectors.run", "queued")]  # one job for both
    assert queued[0][2] <= utcnow()

    assert run_batch(world.factory, worker="test-worker", kinds=["collectors.run"]) == 1
    rows = {n: _row(world, n) for n in ("job-pull", "job-pull-2")}
    # Both ran; the second pulled the same collection, whose versions the partner already holds.
    assert {n: (r.status, r.run_pages, r.run_objects) for n, r in rows.items()} == {
        "job-pull": ("ok", 3, 120), "job-pull-2": ("ok", 2, 0)}
    done, nxt = jobs()
    assert (done[0], done[1]) == ("collectors.run", "done") and (nxt[0], nxt[1]) == ("collectors.run", "queued")
    # The next job waits for the first collector due again: ten minutes after its run.
    assert abs(nxt[2] - rows["job-pull"].next_run_at) < timedelta(seconds=1)
    assert nxt[2] >= before + timedelta(seconds=599)
    assert run_batch(world.factory, worker="test-worker", kinds=["collectors.run"]) == 0  # not due yet
    with world.factory() as s:
        finished = s.scalars(select(Job).where(Job.kind == "collectors.run", Job.status == "done")).one()
        assert [r["name"] for r in finished.result["runs"]] == ["job-pull", "job-pull-2"]


def test_pulled_stix_20_objects_are_upgraded_and_invalid_ones_left_out():
    malware_20 = medallion_default_data()["trustgroup1"]["collections"][2]["objects"][6]
    assert "spec_version" not in malware_20
    assert collectors._prepare(malware_20)["spec_version"] == "2.1"
    assert collectors._prepare({"type": "indicator", "id": "indicator--x"}) is None
    assert collectors._prepare("not an object") is None


def test_requests_are_retried_with_backoff(live_server, world, tmp_path):
    _post(live_server, world, "vendor", _objects(4, 10))
    _add(world, tmp_path, name="retry", kind="taxii21", url=_vendor_inbox_url(live_server, world),
         username="vendor@example.org", password=world.token("vendor"))
    flaky = _Flaky({1, 2}, status=503)
    report = _run(world, tmp_path, "retry", transport=flaky)
    assert (report.status, report.objects, flaky.count) == ("ok", 10, 3)


def test_pull_from_the_reference_server(medallion, world, tmp_path):
    data = medallion_default_data()
    url = medallion(data, users={"partner": "partner-password"}, max_page_size=3)
    _add(world, tmp_path, name="medallion", kind="taxii21",
         url=f"{url}/trustgroup1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/", username="partner",
         password="partner-password", page_size=3)
    report = _run(world, tmp_path, "medallion")
    # Every version, in pages of three (medallion leaves out the STIX 2.0 version of the malware: without
    # match[spec_version] it serves each object's latest spec version only).
    assert (report.status, report.objects, report.skipped, report.pages) == ("ok", 7, 0, 3)
    assert _row(world, "medallion").state["added_after"] == "2017-12-31T13:49:53.935000Z"
    assert _run(world, tmp_path, "medallion").objects == 0
    bad = _add(world, tmp_path, name="medallion-denied", kind="taxii21",
               url=f"{url}/trustgroup1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/", username="partner",
               password="wrong")
    assert bad
    report = _run(world, tmp_path, "medallion-denied")
    assert report.status == "error" and "HTTP 401" in report.error


def _serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def test_misp_feed_pull_is_incremental(world, tmp_path):
    from cyberfusion.taxii import feed, service
    from sharing.helpers import contribute
    for n in range(3):
        contribute(world, tmp_path, "vendor", _objects(10 + n, 5), HandlingSpec(tlp="green"))
    feed_dir = tmp_path / "feed"
    with transaction(world.factory) as s:
        viewer = world.viewer("vendor")
        found = service.get_collection(s, viewer=viewer, root="cfc", key="inbox")
        assert feed.write_misp_feed(s, viewer=viewer, collection=found, out_dir=feed_dir)["events"] == 3
    server, url = _serve(feed_dir)
    try:
        _add(world, tmp_path, name="misp", kind="misp-feed", url=url)
        report = _run(world, tmp_path, "misp")
        assert (report.status, report.pages, report.skipped) == ("ok", 3, 0)
        stored = _stored(world)
        assert report.objects == stored > 0
        assert _run(world, tmp_path, "misp").as_dict()["pages"] == 0  # nothing new
        manifest = json.loads((feed_dir / "manifest.json").read_text())
        first = sorted(manifest)[0]
        manifest[first]["timestamp"] = str(int(manifest[first]["timestamp"]) + 10)
        (feed_dir / "manifest.json").write_text(json.dumps(manifest))
        report = _run(world, tmp_path, "misp")
        assert (report.pages, report.objects) == (1, 0)  # newer timestamp, same bytes: not imported again
        event = json.loads((feed_dir / f"{first}.json").read_text())
        event["Event"]["Attribute"].append({**event["Event"]["Attribute"][0], "value": "10.99.99.99",
                                            "uuid": "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"})
        (feed_dir / f"{first}.json").write_text(json.dumps(event))
        manifest[first]["timestamp"] = str(int(manifest[first]["timestamp"]) + 10)
        (feed_dir / "manifest.json").write_text(json.dumps(manifest))
        report = _run(world, tmp_path, "misp")
        assert report.pages == 1 and report.objects > 0 and _stored(world) > stored
        with world.factory() as s:
            held = repository.collector_items(s, _row(world, "misp").id)
        assert held[first] == (int(manifest[first]["timestamp"]),
                               hashlib.sha256((feed_dir / f"{first}.json").read_bytes()).hexdigest())
        # A broken event is left out, remembered, and the run goes on.
        (feed_dir / f"{first}.json").write_text('{"Event": {"Attribute": []}}')
        manifest[first]["timestamp"] = str(int(manifest[first]["timestamp"]) + 10)
        (feed_dir / "manifest.json").write_text(json.dumps(manifest))
        report = _run(world, tmp_path, "misp")
        assert (report.status, report.skipped) == ("ok", 1)
        assert _run(world, tmp_path, "misp").pages == 0
    finally:
        server.shutdown()


def test_collector_configuration_is_validated_and_credentials_sealed(world, tmp_path):
    from cyberfusion.errors import Conflict, InvalidInput
    _add(world, tmp_path, name="x", kind="taxii21", url="http://127.0.0.1:1/taxii2/r/collections/c/",
         username="u", password="secret-password")
    row = _row(world, "x")
    assert "secret-password" not in row.credentials
    assert collectors.unseal(row.credentials, secret=SECRET) == {"username": "u", "password": "secret-password"}
    for kw, field in (({"kind": "rss"}, "kind"), ({"url": "ftp://x/"}, "url"),
                      ({"url": "http://x/taxii2/"}, "url"), ({"interval_seconds": 5}, "interval_seconds")):
        args = {"name": "y", "kind": "taxii21", "url": "http://x/collections/c/"} | kw
        with pytest.raises(InvalidInput) as err:
            _add(world, tmp_path, **args)
        assert err.value.field == field
    with pytest.raises(Conflict):
        _add(world, tmp_path, name="x", kind="misp-feed", url="http://x/")
    with transaction(world.factory) as s, pytest.raises(InvalidInput) as err:
        collectors.add(s, name="z", kind="misp-feed", url="http://x/", member_email="uni@example.org",
                       handling=HandlingSpec(), secret=SECRET)
    assert err.value.field == "member"  # a reader cannot contribute


def test_cli_collector_add_list_run(live_server, world, tmp_path, monkeypatch):
    from cyberfusion.cli import app
    _post(live_server, world, "vendor", _objects(5, 12))
    monkeypatch.setenv("VENDOR_TOKEN", world.token("vendor"))
    runner = CliRunner()
    r = runner.invoke(app, ["collector", "add", "cli-pull", "--kind", "taxii21", "--url",
                            _vendor_inbox_url(live_server, world), "--as", "intl@example.org", "--username",
                            "vendor@example.org", "--password-env", "VENDOR_TOKEN", "--tlp", "green", "--interval",
                            "600", "--format", "json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["name"] == "cli-pull"
    r = runner.invoke(app, ["collector", "run", "--format", "json"])  # every due collector
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == [{"name": "cli-pull", "status": "ok", "pages": 1, "objects": 12, "skipped": 0,
                                     "error": None}]
    r = runner.invoke(app, ["collector", "list", "--format", "json"])
    listed = json.loads(r.stdout)[0]
    assert (listed["status"], listed["total_objects"], listed["organisation"], listed["handling_tlp"]) == \
        ("ok", 12, "Regional Org", "green")
    r = runner.invoke(app, ["collector", "run", "--format", "json"])
    assert json.loads(r.stdout) == []  # not due again for ten minutes
    r = runner.invoke(app, ["collector", "run", "nope", "--format", "json"])
    assert r.exit_code == 1 and json.loads(r.stderr)["error"]["status"] == 404
    r = runner.invoke(app, ["collector", "remove", "cli-pull", "--format", "json"])
    assert r.exit_code == 0 and json.loads(runner.invoke(app, ["collector", "list", "--format", "json"]).stdout) == []
