"""The responsible-AI register (law-enforcement AI use cases with a questionnaire-based risk level
following the five principles) and the resource bank (guidance, training, tools) with tags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.ai import repository
from cyberfusion.ai.models import AiResource, AiUseCase
from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.errors import InvalidInput, NotFound
from cyberfusion.partners.service import require_role
from cyberfusion.sharing.viewer import Viewer

PRINCIPLES = ("lawful", "minimise_harm", "human_control", "fair", "accountable")
RISK_LEVELS = ("minimal", "limited", "high", "unacceptable")
STATUSES = ("proposed", "assessed", "approved", "in_use", "suspended", "retired")
RESOURCE_KINDS = ("guidance", "training", "tool", "dataset", "template")
_EDITORS = ("analyst", "platform_admin")


@dataclass(frozen=True, slots=True)
class Question:
    key: str
    principle: str
    text: str
    risky_answer: bool  # the answer that adds risk
    points: int  # 3 or more makes the use case high risk by itself
    why: str


QUESTIONS: tuple[Question, ...] = (
    Question("legal_basis_documented", "lawful", "Is the legal basis documented and reviewed by legal counsel?",
             False, 3, "no reviewed legal basis"),
    Question("personal_data", "lawful", "Does the system process personal data?", True, 1,
             "processes personal data"),
    Question("affects_individuals", "minimise_harm",
             "Can an output lead to a measure against a person (arrest, search, listing, refusal)?", True, 3,
             "outputs can lead to measures against people"),
    Question("special_categories", "minimise_harm",
             "Does it process special categories of data (biometrics, health, children's data)?", True, 2,
             "processes special categories of data"),
    Question("human_review", "human_control", "Does a person review every output before it has any effect?",
             False, 3, "outputs take effect without human review"),
    Question("can_override", "human_control", "Can operators override, correct or stop the system?", False, 2,
             "operators cannot override or stop it"),
    Question("bias_tested", "fair", "Has accuracy been measured across languages, regions and groups?", False, 2,
             "no fairness measurement across groups"),
    Question("representative_data", "fair",
             "Is the evaluation data representative of where the system is used?", False, 1,
             "evaluation data not representative"),
    Question("model_card", "accountable", "Is there a model card with purpose, data, measured accuracy and limits?",
             False, 1, "no model card"),
    Question("audit_log", "accountable", "Is every use and every reviewer decision logged for audit?", False, 2,
             "uses are not logged for audit"),
    Question("realtime_remote_biometric", "minimise_harm",
             "Does it identify people remotely and in real time from biometrics in public spaces?", True, 100,
             "real-time remote biometric identification in public spaces"),
)
_BY_KEY = {q.key: q for q in QUESTIONS}


def assess(answers: dict[str, bool]) -> tuple[str, list[dict[str, Any]]]:
    """Risk level and the answers that raised it, from a complete questionnaire."""
    missing = [q.key for q in QUESTIONS if q.key not in answers]
    if missing:
        raise InvalidInput(f"unanswered questions: {', '.join(missing)}", field="answers")
    unknown = sorted(set(answers) - set(_BY_KEY))
    if unknown:
        raise InvalidInput(f"unknown questions: {', '.join(unknown)}", field="answers")
    reasons = [{"question": q.key, "principle": q.principle, "points": q.points, "reason": q.why}
               for q in QUESTIONS if bool(answers[q.key]) == q.risky_answer]
    points = sum(r["points"] for r in reasons)
    if points >= 100:
        level = "unacceptable"
    elif any(r["points"] >= 3 for r in reasons) or points >= 5:
        level = "high"
    elif points > 0:
        level = "limited"
    else:
        level = "minimal"
    return level, reasons


def questionnaire() -> list[dict[str, Any]]:
    return [{"key": q.key, "principle": q.principle, "question": q.text,
             "adds_risk_when": "yes" if q.risky_answer else "no"} for q in QUESTIONS]


def use_case_dict(u: AiUseCase) -> dict[str, Any]:
    return {"id": u.id, "title": u.title, "description": u.description, "purpose": u.purpose, "data": u.data,
            "legal_basis": u.legal_basis, "answers": u.answers, "risk_level": u.risk_level,
            "risk_reasons": u.risk_reasons, "oversight": u.oversight, "status": u.status,
            "owner_organisation_id": u.owner_organisation_id, "created_at": u.created_at,
            "updated_at": u.updated_at}


def _required(**fields: str) -> None:
    for name, value in fields.items():
        if not value or not value.strip():
            raise InvalidInput("must not be empty", field=name)


def register_use_case(session: Session, *, viewer: Viewer, title: str, description: str, purpose: str, data: str,
                      legal_basis: str, answers: dict[str, bool], oversight: str,
                      status: str = "proposed") -> AiUseCase:
    require_role(viewer, *_EDITORS)
    _required(title=title, description=description, purpose=purpose, data=data, legal_basis=legal_basis)
    if status not in STATUSES:
        raise InvalidInput(f"{status!r} is not one of: {', '.join(STATUSES)}", field="status")
    level, reasons = assess(answers)
    if level in ("high", "unacceptable") and not oversight.strip():
        raise InvalidInput("a high-risk use case needs its human-oversight measures described", field="oversight")
    if level == "unacceptable" and status in ("approved", "in_use"):
        raise InvalidInput("an unacceptable-risk use case cannot be approved or used", field="status")
    now = utcnow()
    row = AiUseCase(title=title.strip(), description=description, purpose=purpose, data=data,
                    legal_basis=legal_basis, answers={k: bool(v) for k, v in answers.items()}, risk_level=level,
                    risk_reasons=reasons, oversight=oversight, status=status, owner_organisation_id=viewer.org_id,
                    created_by=viewer.member_id, created_at=now, updated_at=now)
    repository.add_all(session, [row])
    audit.record(session, action="ai.register.create", viewer=viewer,
                 detail={"use_case_id": row.id, "risk_level": level, "status": status})
    return row


def set_status(session: Session, *, viewer: Viewer, use_case_id: int, status: str) -> AiUseCase:
    require_role(viewer, *_EDITORS)
    row = repository.use_case(session, use_case_id)
    if row is None:
        raise NotFound(f"no use case {use_case_id}")
    if status not in STATUSES:
        raise InvalidInput(f"{status!r} is not one of: {', '.join(STATUSES)}", field="status")
    if row.risk_level == "unacceptable" and status in ("approved", "in_use"):
        raise InvalidInput("an unacceptable-risk use case cannot be approved or used", field="status")
    old, row.status, row.updated_at = row.status, status, utcnow()
    session.flush()
    audit.record(session, action="ai.register.status", viewer=viewer,
                 detail={"use_case_id": row.id, "from": old, "to": status})
    return row


def list_use_cases(session: Session, *, status: str | None = None, risk: str | None = None) -> list[dict[str, Any]]:
    return [use_case_dict(u) for u in repository.use_cases(session, status=status, risk=risk)]


def _tags(tags: list[str]) -> list[str]:
    clean = sorted({t.strip().lower() for t in tags if t.strip()})
    for t in clean:
        if "," in t or "%" in t:
            raise InvalidInput(f"tag {t!r} may not contain ',' or '%'", field="tags")
    return clean


def resource_dict(r: AiResource) -> dict[str, Any]:
    return {"id": r.id, "title": r.title, "kind": r.kind, "url": r.url, "summary": r.summary,
            "tags": [t for t in r.tags.strip(",").split(",") if t], "created_at": r.created_at}


def add_resource(session: Session, *, viewer: Viewer, title: str, kind: str, summary: str, tags: list[str],
                 url: str | None = None) -> AiResource:
    require_role(viewer, *_EDITORS)
    _required(title=title, summary=summary)
    if kind not in RESOURCE_KINDS:
        raise InvalidInput(f"{kind!r} is not one of: {', '.join(RESOURCE_KINDS)}", field="kind")
    clean = _tags(tags)
    row = AiResource(title=title.strip(), kind=kind, url=url, summary=summary,
                     tags="," + ",".join(clean) + "," if clean else "", added_by=viewer.member_id,
                     created_at=utcnow())
    repository.add_all(session, [row])
    audit.record(session, action="ai.resource.create", viewer=viewer, detail={"resource_id": row.id})
    return row


def search_resources(session: Session, *, text: str | None = None, tags: list[str] | None = None,
                     kind: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    if kind is not None and kind not in RESOURCE_KINDS:
        raise InvalidInput(f"{kind!r} is not one of: {', '.join(RESOURCE_KINDS)}", field="kind")
    return [resource_dict(r) for r in repository.resources(session, text=text, tags=_tags(tags or []), kind=kind,
                                                          limit=limit)]


__all__ = ["assess", "questionnaire", "register_use_case", "set_status", "list_use_cases", "add_resource",
           "search_resources", "QUESTIONS", "PRINCIPLES", "RISK_LEVELS", "STATUSES", "RESOURCE_KINDS"]
