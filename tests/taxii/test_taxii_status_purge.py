"""TAXII status resources are kept CFC_TAXII_STATUS_DAYS, then forgotten by the taxii.purge_status job."""

from __future__ import annotations

import json
from datetime import timedelta

from sharing.helpers import indicator
from sqlalchemy import update
from taxii.support import TAXII, basic

from cyberfusion.db import transaction, utcnow
from cyberfusion.jobs.models import Job
from cyberfusion.jobs.service import enqueue, work
from cyberfusion.taxii.models import TaxiiStatus

ROOT = "/taxii2/cfc"


def _post(client, world, value):  # type: ignore[no-untyped-def]
    h = {**basic(world, "bank"), "Content-Type": TAXII}
    r = client.post(f"{ROOT}/collections/inbox/objects/", headers=h,
                    content=json.dumps({"objects": [indicator("domain-name", value)]}))
    assert r.status_code == 202, r.text
    return r.json()["id"]


def test_old_statuses_are_purged_recent_ones_kept(client, world):
    old, recent = _post(client, world, "old.example"), _post(client, world, "recent.example")
    with transaction(world.factory) as s:
        s.execute(update(TaxiiStatus).where(TaxiiStatus.id == old)
                  .values(request_timestamp=utcnow() - timedelta(days=8)))
        import cyberfusion.jobs.handlers  # noqa: F401 - registers the job kinds
        enqueue(s, kind="taxii.purge_status")
    assert work(world.factory, once=True, idle_sleep=0, kinds=["taxii.purge_status"]) == 1
    with world.factory() as s:
        job = s.query(Job).filter(Job.kind == "taxii.purge_status").one()
        assert (job.status, job.result) == ("done", {"deleted": 1, "kept_days": 7})
    h = basic(world, "bank")
    assert client.get(f"{ROOT}/status/{old}/", headers=h).status_code == 404
    assert client.get(f"{ROOT}/status/{recent}/", headers=h).json()["status"] == "complete"
