"""The tasking demo: RFIs in every state, overlapping activities, groups, a project and a review."""

from __future__ import annotations

from sqlalchemy import func, select

from cyberfusion.db import transaction
from cyberfusion.demo import load_demo
from cyberfusion.partners import repository, service
from cyberfusion.tasking import service as tasking
from cyberfusion.tasking.deconfliction.models import Overlap
from cyberfusion.tasking.demo import load_tasking_demo
from cyberfusion.tasking.rfi import service as rfis
from cyberfusion.tasking.rfi.models import STATES


def test_tasking_demo_has_every_rfi_state_and_overlapping_activities(engine, factory, monkeypatch):
    # The demo's web passwords are not used here; argon2 is deliberately slow.
    monkeypatch.setattr("cyberfusion.partners.service.hash_password", lambda password: "not-a-hash")
    load_demo(engine, indicators=60, quiet=True)
    with transaction(factory) as s:
        first = load_tasking_demo(s)
    with transaction(factory) as s:
        assert load_tasking_demo(s) == first  # loading twice adds nothing
        assert set(first["rfis"]) == set(STATES)
        assert s.scalar(select(func.count()).select_from(Overlap)) == 2

        def viewer(email):
            return service.resolve_viewer(s, repository.member_by_email(s, email))

        analyst = viewer("analyst@cfc.example")
        assert [i["state"] for i in rfis.overdue(s, viewer=analyst).items] == ["in_progress"]
        queue = [i["priority"] for i in rfis.queue(s, viewer=analyst).items]
        assert queue == ["urgent", "immediate", "urgent"]  # the overdue urgent one is due first
        breach = [n.subject for n in tasking.my_notifications(s, viewer=analyst) if n.kind == "rfi.breach"]
        assert len(breach) == 1
        lyon = [n.body for n in tasking.my_notifications(s, viewer=viewer("officer@ncb-lyon.example"))
                if n.kind == "deconfliction.overlap"]
        assert len(lyon) == 1 and "Sentinel Vector Labs" in lyon[0] and "leak-site" not in lyon[0]
        closed = next(i for i in rfis.list_rfis(s, viewer=analyst, states=["closed"]).items)
        answer = rfis.get_rfi(s, viewer=viewer("contributor@sentinel-vector.example"), rfi_id=closed["id"])["answer"]
        assert answer["released_at"] is not None and len(answer["references"]) == 2
