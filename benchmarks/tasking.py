"""Tasking: the cost of RFI visibility in the queue, and of overlap detection as the register grows.

Prints ratios against baselines measured in the same process (absolute times for reference only):

  a. a member's queue page (``list_rfis(assigned="me")``, visibility filter, queue order, keyset)
     against the same page selected without the visibility filter;
  b. a partner's first page of all RFIs it may see against the same ordered page without the filter;
  c. registering an activity (10 targets) into a register of N activities (5 targets each, another
     organisation) against registering it into an empty register: overlap detection reads the
     (kind, value) index, so the ratio should stay near 1 as N grows.

    PYTHONPATH=src python benchmarks/tasking.py [--rfis 20000] [--activities 20000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import environment, fresh_world, table  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from cyberfusion.db import transaction, utcnow  # noqa: E402
from cyberfusion.partners import repository as partners_repo  # noqa: E402
from cyberfusion.partners import service as partners  # noqa: E402
from cyberfusion.tasking.deconfliction import service as activities  # noqa: E402
from cyberfusion.tasking.deconfliction.models import Activity, ActivityTarget  # noqa: E402
from cyberfusion.tasking.rfi import service as rfis  # noqa: E402
from cyberfusion.tasking.rfi.models import PRIORITIES, Rfi  # noqa: E402
from cyberfusion.tasking.rfi.repository import queue_order  # noqa: E402
from cyberfusion.tasking.rfi.workflow import queue_class  # noqa: E402


def _median(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rfis", type=int, default=20_000)
    ap.add_argument("--activities", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--database-url")
    args = ap.parse_args()
    rng = random.Random(20261126)
    with tempfile.TemporaryDirectory() as tmp:
        world = fresh_world(args.database_url, Path(tmp), "tasking")
        try:
            with transaction(world.factory) as s:
                host = partners_repo.host_centre(s)
                member = partners.add_member(s, email="analyst@bench.example", name="Bench Analyst", org=host,
                                             roles=["analyst"])
                analyst = partners.resolve_viewer(s, member)
                other = partners.create_organisation(s, name="Bench Police", kind="law_enforcement", country="GB")
                other_member = partners.add_member(s, email="police@bench.example", name="p", org=other,
                                                   roles=["analyst"])
            now = utcnow()
            rows = []
            for i in range(args.rfis):
                p = rng.choice(PRIORITIES)
                filed = now - timedelta(hours=rng.randrange(500))
                rows.append({"title": f"rfi {i}", "question": "q", "context": "", "countries": "",
                             "related_values": [], "related_objects": [], "purpose": "investigation",
                             "priority": p, "queue_class": queue_class(p), "tlp": rng.choice((0, 1, 2, 2, 3, 4)),
                             "shared_with": "", "staff_only": False,
                             "requester_member_id": world.viewer.member_id if i % 3 else other_member.id,
                             "requester_org_id": world.viewer.org_id if i % 3 else other.id,
                             "created_at": filed, "due_at": filed + timedelta(hours=rng.choice((4, 24, 72, 240))),
                             "state": rng.choice(("new", "triaged", "assigned", "in_progress", "closed")),
                             "assignee_member_id": member.id if i % 4 == 0 else None, "updated_at": filed})
            with transaction(world.factory) as s:
                s.execute(insert(Rfi), rows)

            def queue() -> None:
                with world.factory() as s:
                    rfis.list_rfis(s, viewer=analyst, assigned="me", limit=50)

            def queue_baseline() -> None:
                with world.factory() as s:
                    list(s.scalars(select(Rfi).where(Rfi.state.in_(("assigned", "in_progress")),
                                                     Rfi.assignee_member_id == member.id)
                                   .order_by(*queue_order()).limit(51)))

            def partner_page() -> None:
                with world.factory() as s:
                    rfis.list_rfis(s, viewer=world.viewer, limit=50)

            def plain_page() -> None:
                with world.factory() as s:
                    list(s.scalars(select(Rfi).order_by(*queue_order()).limit(51)))

            q, qb = _median(queue, args.repeat), _median(queue_baseline, args.repeat)
            pp, pb = _median(partner_page, args.repeat), _median(plain_page, args.repeat)

            def register(tag: str) -> float:
                targets = [f"198.18.{i}.{tag}" for i in range(9)] + ["shared-target.example.com"]
                t = time.perf_counter()
                with transaction(world.factory) as s:
                    activities.register(s, viewer=world.viewer, title=f"probe {tag}", kind="investigation",
                                        targets=targets)
                return time.perf_counter() - t

            def add_activities(n: int, shared: bool) -> None:
                acts = [{"title": f"a{i}", "kind": "investigation", "description": "", "owner_org_id": other.id,
                         "owner_member_id": other_member.id, "contact": "c", "tlp": 2, "status": "active",
                         "created_at": now, "updated_at": now} for i in range(n)]
                with transaction(world.factory) as s:
                    ids = list(s.execute(insert(Activity).returning(Activity.id), acts).scalars())
                    values = [{"activity_id": a, "kind": "domain-name", "value": f"d{a}-{j}.example.org"}
                              for a in ids for j in range(5)]
                    if shared:  # every probe overlaps this one activity, in both phases
                        values.append({"activity_id": ids[0], "kind": "domain-name",
                                       "value": "shared-target.example.com"})
                    s.execute(insert(ActivityTarget), values)

            add_activities(1, shared=True)
            empty = statistics.median(register(str(i)) for i in range(1, 6))
            add_activities(args.activities, shared=False)
            full = statistics.median(register(str(i)) for i in range(6, 11))
        finally:
            world.cleanup()
    print(f"tasking benchmark: {args.rfis:,} RFIs, {args.activities:,} activities "
          f"({args.activities * 5:,} targets), median of {args.repeat}")
    table([("measurement", "ours (ms)", "baseline (ms)", "ratio"),
           ("a. queue page (assigned=me) vs unfiltered", f"{q * 1e3:.2f}", f"{qb * 1e3:.2f}", f"{q / qb:.2f}"),
           ("b. partner's visible page vs unfiltered", f"{pp * 1e3:.2f}", f"{pb * 1e3:.2f}", f"{pp / pb:.2f}"),
           (f"c. register into {args.activities:,} vs empty", f"{full * 1e3:.2f}", f"{empty * 1e3:.2f}",
            f"{full / empty:.2f}")])
    table([("environment", "")] + environment())


if __name__ == "__main__":
    main()
