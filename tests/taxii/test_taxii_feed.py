"""MISP feed and STIX exports of a collection: the files MISP subscribes to, and valid STIX 2.1."""

from __future__ import annotations

import hashlib
import io
import json

from typer.testing import CliRunner

from cyberfusion.db import transaction
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.taxii import feed, service
from sharing.helpers import contribute, indicator


def _setup(world, tmp_path):  # type: ignore[no-untyped-def]
    contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", "10.5.5.1"), indicator("domain-name", "bad.example")],
               HandlingSpec(tlp="green"))
    contribute(world, tmp_path, "bank", [indicator("ipv4-addr", "10.5.5.2")],
               HandlingSpec(tlp="amber", attribution="anonymous", no_further_dissemination=True))
    contribute(world, tmp_path, "telco", [{"type": "malware", "spec_version": "2.1",
                                           "id": "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
                                           "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
                                           "name": "no observables", "is_family": True}], HandlingSpec(tlp="green"))


def test_misp_feed_files(world, tmp_path):
    from pymisp import MISPEvent
    _setup(world, tmp_path)
    out = tmp_path / "feed"
    (out / "00000000-0000-4000-8000-000000000000.json").parent.mkdir(parents=True)
    (out / "00000000-0000-4000-8000-000000000000.json").write_text("{}")  # a stale event
    with transaction(world.factory) as s:
        viewer = world.viewer("analyst")
        found = service.get_collection(s, viewer=viewer, root="cfc", key="all")
        assert feed.write_misp_feed(s, viewer=viewer, collection=found, out_dir=out) == \
            {"events": 2, "attributes": 3, "objects": 4}
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted([*(f"{u}.json" for u in manifest), "manifest.json",
                                                            "hashes.csv"])
    hashes = (out / "hashes.csv").read_text().splitlines()
    expected_hashes = set()
    infos = {}
    for event_uuid, meta in manifest.items():
        assert set(meta) == {"Orgc", "Tag", "info", "date", "analysis", "threat_level_id", "timestamp"}
        event = MISPEvent()
        event.load_file(str(out / f"{event_uuid}.json"))
        assert event.uuid == event_uuid and event.info == meta["info"]
        infos[event.Orgc.name] = sorted((a.type, a.value, [t.name for t in a.tags]) for a in event.attributes)
        expected_hashes |= {f"{hashlib.md5(a.value.encode()).hexdigest()},{event_uuid}" for a in event.attributes}
    assert set(hashes) == expected_hashes and len(hashes) == 3
    assert infos == {
        "Vendor Labs": [("domain", "bad.example", ["tlp:green"]), ("ip-dst", "10.5.5.1", ["tlp:green"])],
        # anonymous attribution: the host centre stands for the source
        "Fusion Host": [("ip-dst", "10.5.5.2", ["tlp:amber", "cyberfusion:no-further-dissemination"])]}
    # The feed imports back through our own MISP feed reader.
    from cyberfusion.ingest.misp import iter_misp_feed
    assert len([i for i in iter_misp_feed(out) if i.obj["type"] == "indicator"]) == 3


def test_misp_feed_follows_the_reader(world, tmp_path):
    _setup(world, tmp_path)
    out = tmp_path / "telco-feed"
    with transaction(world.factory) as s:
        viewer = world.viewer("telco")  # GREEN ceiling: not the bank's AMBER
        found = service.get_collection(s, viewer=viewer, root="cfc", key="all")
        assert feed.write_misp_feed(s, viewer=viewer, collection=found, out_dir=out)["attributes"] == 2
    assert "10.5.5.2" not in "".join(p.read_text() for p in out.iterdir())


def test_stix_feed_is_valid_stix_21(world, tmp_path):
    from stix2validator import ValidationOptions, validate_instance
    _setup(world, tmp_path)
    buf = io.StringIO()
    with transaction(world.factory) as s:
        viewer = world.viewer("analyst")
        found = service.get_collection(s, viewer=viewer, root="cfc", key="all")
        assert feed.write_stix(s, viewer=viewer, collection=found, out=buf) == 4 + 4  # + 2 TLP + 2 statements
    bundle = json.loads(buf.getvalue())
    result = validate_instance(bundle, ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors]
    ids = {o["id"] for o in bundle["objects"]}
    for o in bundle["objects"]:
        assert set(o.get("object_marking_refs", [])) <= ids  # every marking it uses travels with it


def test_cli_feed_export(world, tmp_path, engine):
    from cyberfusion.cli import app
    _setup(world, tmp_path)
    runner = CliRunner()
    r = runner.invoke(app, ["feed", "export", "--as", "analyst@example.org", "--to", "misp", "-o",
                            str(tmp_path / "cli-feed"), "--format", "json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == {"events": 2, "attributes": 3, "objects": 4, "output": str(tmp_path / "cli-feed"),
                                    "format": "misp", "collection": "all"}
    r = runner.invoke(app, ["feed", "export", "--as", "analyst@example.org", "--collection", "tlp-green", "--to", "stix",
                            "-o", str(tmp_path / "green.json"), "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["objects"] == 3 + 2
    r = runner.invoke(app, ["feed", "export", "--as", "uni@example.org", "-o", str(tmp_path / "x"), "--format", "json"])
    assert r.exit_code == 1 and json.loads(r.stderr)["error"]["status"] == 404  # no such collection for research
    r = runner.invoke(app, ["taxii", "collection", "add", "investigation", "--title", "For investigators",
                            "--purpose", "investigation", "--tlp", "amber", "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["filters"] == "tlp amber"
    r = runner.invoke(app, ["taxii", "collection", "list", "--format", "json"])
    assert [c["alias"] for c in json.loads(r.stdout)][-2:] == ["inbox", "investigation"]
