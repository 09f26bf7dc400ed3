"""Report files are stored compressed (text formats, zlib) and downloaded byte for byte as generated;
migration 0302 adds the encoding and its downgrade decompresses the stored files."""

from __future__ import annotations

import hashlib
import zlib

import products_fixture as fx
from alembic import command
from sqlalchemy import select

from cyberfusion.db import alembic_config, transaction, upgrade
from cyberfusion.products import render, service
from cyberfusion.products.models import ReportFile


def _generate_and_send(world):
    with transaction(world.factory) as s:
        batch = service.generate(s, viewer=world.viewer("analyst"), period="2026-10", countries=["FR"], k=2,
                                 formats=("csv", "html", "stix"), send=True)
    g = batch.reports[0]
    return g.record.id, g.files


def _download(world, report_id, fmt):
    with transaction(world.factory) as s:
        content, _media, _name = service.download(s, viewer=world.viewer("ncb_fr"), report_id=report_id, fmt=fmt)
    return content


def test_text_files_are_stored_compressed_and_downloaded_as_generated(world, tmp_path):
    fx.build(world, tmp_path)
    report_id, files = _generate_and_send(world)
    with transaction(world.factory) as s:
        rows = {r.format: r for r in s.scalars(select(ReportFile).where(ReportFile.report_id == report_id))}
        stored = {f: (r.encoding, r.size, r.sha256, bytes(r.content)) for f, r in rows.items()}
    assert set(stored) == {"csv", "html", "stix"}
    for fmt, (encoding, size, sha256, content) in stored.items():
        assert encoding == "zlib" and zlib.decompress(content) == files[fmt]
        assert (size, sha256) == (len(files[fmt]), hashlib.sha256(files[fmt]).hexdigest())
        assert _download(world, report_id, fmt) == files[fmt]


def test_a_pdf_is_stored_as_it_is():
    assert render.stored_form("pdf", b"%PDF-1.7 x") == (b"%PDF-1.7 x", "")
    assert render.downloaded_form(b"%PDF-1.7 x", "") == b"%PDF-1.7 x"
    packed, encoding = render.stored_form("csv", b"a,b\n" * 100)
    assert encoding == "zlib" and render.downloaded_form(packed, encoding) == b"a,b\n" * 100


def test_migration_down_decompresses_and_up_keeps_files_readable(engine, world, tmp_path):
    fx.build(world, tmp_path)
    report_id, files = _generate_and_send(world)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0302@-1")
        with engine.connect() as conn:
            cols = {c.name for c in ReportFile.__table__.columns if c.name != "encoding"}
            t = ReportFile.__table__
            rows = conn.execute(select(*[t.c[c] for c in sorted(cols)]).where(t.c.report_id == report_id)).all()
        assert {r.format: bytes(r.content) for r in rows} == files  # stored as they are again
    finally:
        upgrade(engine)
    for fmt, content in files.items():
        assert _download(world, report_id, fmt) == content  # encoding '' after the upgrade
