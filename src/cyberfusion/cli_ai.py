"""`cfc extract` and `cfc ai …`: extraction, evaluation, the review queue, similar reports, the
responsible-AI register and the resource bank."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from cyberfusion.clikit import FormatOpt, OutputFormat, console, emit, handled, session_scope, split_list

ai_app = typer.Typer(no_args_is_help=True, help="AI assistance: every output is a suggestion a person decides on.")
review_app = typer.Typer(no_args_is_help=True, help="The review queue of AI suggestions.")
register_app = typer.Typer(no_args_is_help=True, help="The responsible-AI register of use cases.")
resource_app = typer.Typer(no_args_is_help=True, help="The responsible-AI resource bank.")
ai_app.add_typer(review_app, name="review")
ai_app.add_typer(register_app, name="register")
ai_app.add_typer(resource_app, name="resources")
AsOpt = typer.Option(..., "--as", help="e-mail of the member acting")


def _viewer(session, email: str):  # type: ignore[no-untyped-def]
    from cyberfusion.partners import service as partners
    return partners.resolve_viewer(session, partners.get_member(session, email))


@handled
def extract_cmd(file: Path = typer.Argument(..., help="text, HTML, PDF, .eml or office document"),
                keep_reserved: bool = typer.Option(False, help="keep example.com, 192.0.2.0/24 and loopback"),
                min_confidence: float = typer.Option(0.5, help="suggestions below go to 'skipped'"),
                fmt: OutputFormat = FormatOpt) -> None:
    """Suggest the observables in a document (local: reads the file, stores and sends nothing)."""
    from cyberfusion.ai import extract
    from cyberfusion.ai.documents import read_path
    document = read_path(file)
    result = extract.as_json(extract.extract(document.text, keep_reserved=keep_reserved,
                                             min_confidence=min_confidence), source=document.source())
    if fmt == OutputFormat.json:
        emit(result, fmt)
        return
    rows = [{"type": kind, "value": i["value"], "confidence": i["confidence"], "line": i["positions"][0]["line"],
             "reason": i["reason"]} for kind, items in result["observables"].items() for i in items]
    emit(rows, fmt, columns=["type", "value", "confidence", "line", "reason"], title=f"{file.name}: suggestions")
    console.print(f"{len(result['skipped'])} candidates set aside (see --format json for why)")


@ai_app.command("evaluate")
@handled
def evaluate_cmd(conformance: Optional[Path] = typer.Option(None, help="also score ../shared/conformance/"
                                                                          "ioc-extraction"),
                 fmt: OutputFormat = FormatOpt) -> None:
    """Precision, recall and F1 per type on the labelled sets shipped with the package."""
    from cyberfusion.ai import evaluate
    out = {"extraction": evaluate.evaluate_extraction(), "classification": evaluate.evaluate_classification()}
    if conformance is not None:
        out["conformance"] = evaluate.evaluate_conformance(conformance)
    if fmt == OutputFormat.json:
        emit(out, fmt)
        return
    ext, cls = out["extraction"], out["classification"]
    rows = [{"type": k, **v} for k, v in ext["per_type"].items()] + [{"type": "MICRO", **ext["micro"]}]
    emit(rows, fmt, columns=["type", "precision", "recall", "f1", "tp", "fp", "fn"],
         title=f"Extraction: {ext['documents']} reports, {ext['indicators']} indicators")
    emit([{"group": g, **v} for g, v in ext["fairness"].items()], fmt,
         columns=["group", "precision", "recall", "f1"], title="Extraction by region and language")
    emit([{"type": k, **v} for k, v in cls["per_type"].items()], fmt,
         columns=["type", "precision", "recall", "f1"],
         title=f"Classification ({cls['method']}, {cls['examples']} reports)")
    console.print(f"classification macro F1: {cls['macro_f1']}  accuracy: {cls['accuracy']}")
    emit([{"group": g, **v} for g, v in cls["fairness"].items()], fmt, columns=["group", "accuracy", "examples"],
         title="Classification by region and language")
    for name, result in out.get("conformance", {}).items():
        console.print(f"conformance {name}: micro {result['micro']}")


@ai_app.command("analyse")
@handled
def analyse_cmd(file: Optional[Path] = typer.Argument(None, help="document to analyse"),
                stix_id: Optional[str] = typer.Option(None, "--id", help="or a stored report's STIX id"),
                as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    """Queue extraction, crime-type and entity suggestions for review."""
    from cyberfusion.ai import review
    from cyberfusion.ai.documents import read_path
    with session_scope() as session:
        out = review.analyse(session, viewer=_viewer(session, as_member),
                             document=read_path(file) if file else None, stix_id=stix_id)
    emit(out if fmt == OutputFormat.json else out["suggestions"], fmt,
         columns=["id", "capability", "kind", "value", "confidence", "reason"])


@review_app.command("list")
@handled
def review_list(as_member: str = AsOpt, status: str = typer.Option("pending", help="pending, accepted, rejected"),
                run: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    from cyberfusion.ai import review
    with session_scope() as session:
        rows = review.queue(session, viewer=_viewer(session, as_member), status=status, run_id=run)
    emit(rows, fmt, columns=["id", "capability", "kind", "value", "confidence", "reason", "status"])


def _decide(ids: str, as_member: str, decision: str, note: Optional[str], tlp: str, purposes: list[str],
            fmt: OutputFormat) -> None:
    from cyberfusion.ai import review
    from cyberfusion.errors import InvalidInput
    from cyberfusion.sharing.handling import HandlingSpec
    try:
        numbers = [int(x) for x in split_list(ids)]
    except ValueError:
        raise InvalidInput("comma-separated suggestion ids", field="ids") from None
    with session_scope() as session:
        spec = HandlingSpec(tlp=tlp, purposes=tuple(purposes)) if purposes else HandlingSpec(tlp=tlp)
        out = review.decide(session, viewer=_viewer(session, as_member), ids=numbers, decision=decision,
                            note=note, spec=spec)
    emit(out if fmt == OutputFormat.json else {"decision": out["decision"], "suggestions": len(out["suggestions"]),
                                                 "contribution_id": out["contribution_id"]}, fmt)


@review_app.command("accept")
@handled
def review_accept(ids: str = typer.Argument(..., help="suggestion ids, comma-separated"), as_member: str = AsOpt,
                  note: Optional[str] = None, tlp: str = "amber",
                  purpose: list[str] = typer.Option([], "--purpose", help="permitted purpose (repeat)"),
                  fmt: OutputFormat = FormatOpt) -> None:
    """Accept suggestions: they become intelligence contributed by you, with AI provenance."""
    _decide(ids, as_member, "accept", note, tlp, purpose, fmt)


@review_app.command("reject")
@handled
def review_reject(ids: str = typer.Argument(..., help="suggestion ids, comma-separated"), as_member: str = AsOpt,
                  note: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    _decide(ids, as_member, "reject", note, "amber", [], fmt)


@ai_app.command("index")
@handled
def index_cmd(as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    """Embed the reports you may hand to AI that have no embedding yet (needs the 'ai' extra)."""
    from cyberfusion.ai import similar
    with session_scope() as session:
        emit({"embedded": similar.index(session, viewer=_viewer(session, as_member))}, fmt)


@ai_app.command("similar")
@handled
def similar_cmd(as_member: str = AsOpt, text: Optional[str] = None,
                stix_id: Optional[str] = typer.Option(None, "--id"), purpose: str = "ai_processing",
                limit: int = 5, fmt: OutputFormat = FormatOpt) -> None:
    """Reports you may read that are most similar to a text or a stored report."""
    from cyberfusion.ai import similar
    with session_scope() as session:
        out = similar.find_similar(session, viewer=_viewer(session, as_member), purpose=purpose, text=text,
                                   stix_id=stix_id, limit=limit)
    emit(out if fmt == OutputFormat.json else out["items"], fmt, columns=["id", "type", "name", "score"])


@ai_app.command("cards")
@handled
def cards_cmd(fmt: OutputFormat = FormatOpt) -> None:
    """Model cards: purpose, data, limits, failure modes, version and measured accuracy."""
    from cyberfusion.ai import service
    cards = service.model_cards()
    emit(cards if fmt == OutputFormat.json else
         [{"id": c["id"], "version": c["version"], "purpose": c["purpose"][:80]} for c in cards], fmt,
         columns=["id", "version", "purpose"])


@register_app.command("questionnaire")
@handled
def register_questionnaire(fmt: OutputFormat = FormatOpt) -> None:
    from cyberfusion.ai import registry
    emit(registry.questionnaire(), fmt, columns=["key", "principle", "question", "adds_risk_when"])


@register_app.command("add")
@handled
def register_add(as_member: str = AsOpt, title: str = typer.Option(...), description: str = typer.Option(...),
                 purpose: str = typer.Option(...), data: str = typer.Option(...),
                 legal_basis: str = typer.Option(...),
                 answers: Path = typer.Option(..., help="JSON file: question key -> true/false"),
                 oversight: str = "", status: str = "proposed", fmt: OutputFormat = FormatOpt) -> None:
    """Register a use case; its risk level follows from the questionnaire answers."""
    from cyberfusion.ai import registry
    from cyberfusion.errors import InvalidInput
    try:
        given = json.loads(answers.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"not a JSON file of answers: {exc}", field="answers") from None
    with session_scope() as session:
        row = registry.register_use_case(session, viewer=_viewer(session, as_member), title=title,
                                         description=description, purpose=purpose, data=data,
                                         legal_basis=legal_basis, answers=given, oversight=oversight, status=status)
        emit(registry.use_case_dict(row), fmt)


@register_app.command("list")
@handled
def register_list(status: Optional[str] = None, risk: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    from cyberfusion.ai import registry
    with session_scope() as session:
        rows = registry.list_use_cases(session, status=status, risk=risk)
    emit(rows, fmt, columns=["id", "title", "risk_level", "status"])


@register_app.command("status")
@handled
def register_status(use_case_id: int, status: str, as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    from cyberfusion.ai import registry
    with session_scope() as session:
        row = registry.set_status(session, viewer=_viewer(session, as_member), use_case_id=use_case_id,
                                  status=status)
        emit(registry.use_case_dict(row), fmt)


@resource_app.command("add")
@handled
def resource_add(as_member: str = AsOpt, title: str = typer.Option(...), kind: str = typer.Option(...),
                 summary: str = typer.Option(...), tags: str = "", url: Optional[str] = None,
                 fmt: OutputFormat = FormatOpt) -> None:
    from cyberfusion.ai import registry
    with session_scope() as session:
        row = registry.add_resource(session, viewer=_viewer(session, as_member), title=title, kind=kind,
                                    summary=summary, tags=split_list(tags), url=url)
        emit(registry.resource_dict(row), fmt)


@resource_app.command("search")
@handled
def resource_search(q: Optional[str] = typer.Argument(None), tag: str = "", kind: Optional[str] = None,
                    fmt: OutputFormat = FormatOpt) -> None:
    from cyberfusion.ai import registry
    with session_scope() as session:
        rows = registry.search_resources(session, text=q, tags=split_list(tag), kind=kind)
    emit(rows, fmt, columns=["id", "title", "kind", "tags"])


def register(app: typer.Typer) -> None:
    app.command("extract")(extract_cmd)
    app.add_typer(ai_app, name="ai")
