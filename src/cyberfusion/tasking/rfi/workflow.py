"""The RFI state machine and service levels: pure rules, no storage.

    new ──► triaged ──► assigned ──► in_progress ──► answered ──► closed
     │         │           ▲  │            │  ▲          │
     │         │           └──┴── reassign ┘  └─ reopen ─┘
     ├─────────┴──► rejected (by the centre, with a reason)
     └─ any open state ──► withdrawn (by the requester, with a reason)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from cyberfusion.errors import Conflict
from cyberfusion.tasking.rfi.models import FRONT_OF_QUEUE, OPEN_STATES, PRIORITIES

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("triaged", "rejected", "withdrawn"),
    "triaged": ("assigned", "rejected", "withdrawn"),
    "assigned": ("assigned", "in_progress", "withdrawn"),
    "in_progress": ("assigned", "answered", "withdrawn"),
    "answered": ("closed", "in_progress"),
    "closed": (),
    "rejected": (),
    "withdrawn": (),
}
# Transitions that must say why.
NEEDS_REASON = frozenset({"rejected", "withdrawn"})
REOPEN = ("answered", "in_progress")

DEFAULT_SLA = {"immediate": timedelta(hours=4), "urgent": timedelta(hours=24),
               "priority": timedelta(hours=72), "routine": timedelta(days=10)}


def check_transition(rfi_id: int, state: str, to: str) -> None:
    """Raise Conflict naming the current state and what is allowed from it."""
    allowed = TRANSITIONS[state]
    if to in allowed:
        return
    if not allowed:
        detail = f"RFI {rfi_id} is {state!r}, a final state: it cannot become {to!r}"
    else:
        detail = (f"RFI {rfi_id} is {state!r}: it cannot become {to!r} "
                  f"(allowed next: {', '.join(allowed)})")
    raise Conflict(detail, extra={"field": "state", "state": state, "allowed": list(allowed)})


def queue_class(priority: str) -> int:
    """0 for requests that go to the front of every queue, 1 for the rest."""
    return 0 if priority in FRONT_OF_QUEUE else 1


def due_at(*, filed_at: datetime, priority: str, sla: Mapping[str, timedelta],
           requested_by: datetime | None) -> datetime:
    """The service level's deadline, or the requester's date when that is earlier."""
    deadline = filed_at + sla[priority]
    return min(deadline, requested_by) if requested_by else deadline


def is_open(state: str) -> bool:
    return state in OPEN_STATES


def priority_rank(priority: str) -> int:
    return PRIORITIES.index(priority)
