"""The similar-reports page: by pasted text and from a document's page, policy-filtered (it joins
the leak matrix), clear errors, and only documents whose owners permit AI processing."""

from __future__ import annotations

import re

import pytest

from ai.ai_helpers import AI_PURPOSES, HashingEmbedder, build_report_matrix, report
from cyberfusion.ai import similar
from cyberfusion.db import transaction
from cyberfusion.sharing.handling import HandlingSpec
from sharing.helpers import contribute
from sharing.leak import VIEWERS
from web_support import browser, check_paths, denied, give_password, sign_in


@pytest.fixture(autouse=True)
def _hashing_model(monkeypatch):
    monkeypatch.setattr(similar, "_DEFAULT", HashingEmbedder())


def _listed(html: str) -> list[str]:
    return re.findall(r'<td class="wrap"><a href="/objects/([^"]+)">', html)


def test_similar_documents_by_text_and_from_a_document(client, world, tmp_path):
    hospital = report("Hospital ransomware", "files encrypted at a hospital, ransom note left on servers")
    clinic = report("Clinic ransomware", "a clinic's files encrypted, ransom note and leak site")
    ddos = report("Bank DDoS", "volumetric flood against online banking")
    red = report("Red ransomware", "files encrypted at a hospital, ransom note, red only")
    no_ai = report("No AI ransomware", "files encrypted at a hospital, ransom note, no ai")
    contribute(world, tmp_path, "vendor", [hospital, clinic, ddos], HandlingSpec(tlp="green", purposes=AI_PURPOSES))
    contribute(world, tmp_path, "bank", [red], HandlingSpec(tlp="red", purposes=AI_PURPOSES,
                                                           recipients=(world.orgs["telco"],)))
    contribute(world, tmp_path, "vendor", [no_ai], HandlingSpec(tlp="green"))
    with transaction(world.factory) as s:
        assert similar.index(s, viewer=world.viewer("analyst")) == 3  # RED: not the analyst's; no AI: never
    give_password(world, "analyst")
    sign_in(client, "analyst")

    empty = client.get("/ai/similar")
    assert empty.status_code == 200 and "Most similar" not in empty.text

    r = client.get("/ai/similar", params={"text": "ransom note, files encrypted at a hospital"})
    assert r.status_code == 200, r.text
    assert _listed(r.text) == [hospital["id"], clinic["id"]]  # best first; the flood is below the threshold
    assert red["id"] not in r.text and no_ai["id"] not in r.text

    page = client.get(f"/objects/{hospital['id']}").text
    assert f'<a href="/ai/similar?stix_id={hospital["id"]}&amp;purpose=investigation">Find similar documents</a>' \
        in page
    assert "Find similar documents" not in client.get("/search").text
    by_doc = client.get("/ai/similar", params={"stix_id": hospital["id"]})
    assert _listed(by_doc.text) == [clinic["id"]]  # never the document itself

    assert client.get("/ai/similar", params={"stix_id": red["id"]}).status_code == 404  # same as missing
    assert client.get("/ai/similar", params={"stix_id": "report--00000000-0000-4000-8000-000000000000"}
                      ).status_code == 404
    bad = client.get("/ai/similar", params={"text": "ransom", "limit": 0})
    assert bad.status_code == 422 and "must be between 1 and 50" in bad.text


def test_without_the_extra_the_page_says_what_is_missing(client, world, monkeypatch):
    def missing():  # type: ignore[no-untyped-def]
        from cyberfusion.errors import Unavailable
        raise Unavailable(similar.EXTRA_MISSING)

    monkeypatch.setattr(similar, "default_embedder", missing)
    give_password(world, "analyst")
    sign_in(client, "analyst")
    r = client.get("/ai/similar", params={"text": "ransomware at a hospital"})
    assert r.status_code == 503 and "optional &#39;ai&#39; extra" in r.text


def via_web_similar(world, key, client, tmp_path):
    b = browser(world, key, client)
    r = b.get("/ai/similar", params={"text": "ransomware campaign case", "limit": 50, "purpose": "investigation"},
              follow_redirects=False)
    if denied(r):
        return set()
    assert r.status_code == 200, r.text
    return set(re.findall(r'>matrix ([^<]+)</a>', r.text))


def test_the_similar_reports_page_joins_the_leak_matrix(world, client, tmp_path):
    build_report_matrix(world, tmp_path)
    give_password(world, *VIEWERS)
    assert check_paths([via_web_similar], world, client, tmp_path) == {}
