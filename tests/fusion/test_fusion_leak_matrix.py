"""The leak matrix extended to fusion's read paths: lookups (service, HTTP, CLI), value
correlation, clusters, the alert inbox and alert e-mail.

Lookups follow the deconfliction rule of docs/fusion.md: a viewer is told "hit" (with
details) exactly where EXPECTED says it may read; everywhere else it is told "no_hit" — yet
the owner is notified, so it can decide to share.
"""

from __future__ import annotations

import email
import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from testdata import WORLD_MEMBERS
from cyberfusion.config import get_settings
from cyberfusion.db import transaction, utcnow
from cyberfusion.errors import Forbidden, NotFound
from cyberfusion.fusion import alerts, correlate, hits, watch
from cyberfusion.fusion.models import HitNotification
from sharing.helpers import indicator
from sharing.leak import EXPECTED, HANDLINGS, NO_ACCESS, VALUE_OF, VIEWERS, assert_matrix, build_matrix

NAME_OF = {v: k for k, v in VALUE_OF.items()}
INACTIVE = {"hard_expired", "review_passed"}


def _viewer_or_none(world, key):
    try:
        return world.viewer(key)
    except Forbidden:
        return None


@pytest.fixture
def watched(world, tmp_path):
    """Every viewer that may watches the matrix's range (with an e-mail channel), then the matrix is built."""
    for key in VIEWERS:
        v = _viewer_or_none(world, key)
        if v is None:
            continue
        with transaction(world.factory) as s:
            try:
                watch.create_watchlist(s, viewer=v, name="matrix", purpose="investigation",
                                       email=f"{key}@mail.example", items=[{"type": "cidr", "value": "10.0.0.0/24"}])
            except Forbidden:
                pass
    build_matrix(world, tmp_path)
    return world


def via_lookup(world, key, client, tmp_path):
    v = _viewer_or_none(world, key)
    if v is None:
        return set()
    with transaction(world.factory) as s:
        try:
            result = hits.lookup(s, viewer=v, purpose="investigation", values=list(VALUE_OF.values()))
        except Forbidden:
            return set()
    seen = {NAME_OF[r["normalised"]] for r in result.results if r["result"] == "hit"}
    for r in result.results:  # a hit the viewer may read comes with its details
        assert (r["result"] == "hit") == ("details" in r), r
    return seen


def via_api_lookup(world, key, client, tmp_path):
    r = client.post("/api/v1/lookup", headers={"Authorization": f"Bearer {world.token(key)}"},
                    json={"purpose": "investigation", "values": list(VALUE_OF.values())})
    if r.status_code == 403:
        return set()
    assert r.status_code == 200, r.text
    return {NAME_OF[x["normalised"]] for x in r.json()["results"] if x["result"] == "hit"}


def via_cli_lookup(world, key, client, tmp_path):
    from cyberfusion.cli import app
    path = tmp_path / f"values-{key}.txt"
    path.write_text("\n".join(VALUE_OF.values()))
    r = CliRunner().invoke(app, ["lookup", str(path), "--as", f"{key}@example.org", "--purpose", "investigation",
                                 "--format", "json"])
    if r.exit_code == 1 and json.loads(r.stderr)["error"]["status"] == 403:
        return set()
    assert r.exit_code == 0, r.stderr
    return {NAME_OF[x["normalised"]] for x in json.loads(r.stdout)["results"] if x["result"] == "hit"}


def via_correlation(world, key, client, tmp_path):
    v = _viewer_or_none(world, key)
    if v is None:
        return set()
    seen = set()
    with transaction(world.factory) as s:
        for name, value in VALUE_OF.items():
            try:
                facts = correlate.correlations(s, viewer=v, purpose="investigation", value=value)
            except Forbidden:
                return set()
            assert facts["corroboration"] == (1 if facts["object_count"] else 0)
            if facts["object_count"]:
                seen.add(name)
    return seen


def via_related(world, key, client, tmp_path):
    h = {"Authorization": f"Bearer {world.token(key)}"}
    seen = set()
    for name, value in VALUE_OF.items():
        r = client.get(f"/api/v1/objects/{indicator('ipv4-addr', value)['id']}/related",
                       params={"purpose": "investigation"}, headers=h)
        if r.status_code == 403:
            return set()
        assert r.status_code in (200, 404), r.text
        if r.status_code == 200:
            seen.add(name)
            assert r.json()["edges"] == []  # distinct addresses: nothing links them
    return seen


def via_alert_inbox(world, key, client, tmp_path):
    v = _viewer_or_none(world, key)
    if v is None:
        return set()
    with transaction(world.factory) as s:
        try:
            rows = alerts.inbox(s, viewer=v, purpose="investigation")
        except Forbidden:
            return set()
    return {NAME_OF[a["observable"]["value"]] for a in rows}


def via_alert_email(world, key, client, tmp_path):
    folder = get_settings().data_dir / "mail"
    if not folder.exists():
        with transaction(world.factory) as s:
            alerts.deliver_pending(s, now=utcnow() + timedelta(seconds=1))
    seen = set()
    for path in folder.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes())
        if message["To"] != f"{key}@mail.example":
            continue
        payload = json.loads(message.get_payload()[1].get_payload(decode=True))
        seen |= {NAME_OF[a["observable"]["value"]] for a in payload["alerts"]}
    return seen


READ_PATHS = [via_lookup, via_api_lookup, via_cli_lookup, via_correlation, via_related, via_alert_inbox,
              via_alert_email]


@pytest.mark.parametrize("read_path", READ_PATHS, ids=lambda f: f.__name__)
def test_fusion_leak_matrix(watched, client, tmp_path, read_path):
    assert_matrix(read_path, watched, client, tmp_path)


def test_lookups_notify_owners_of_every_active_hit_whatever_the_asker_was_told(matrix, client, tmp_path):
    asked = {}
    for key in VIEWERS:
        if key in NO_ACCESS:
            assert via_lookup(matrix, key, client, tmp_path) == set()
            continue
        via_lookup(matrix, key, client, tmp_path)
        org = matrix.orgs[WORLD_MEMBERS[key][0]]
        for name, (owner, _handling, _value) in HANDLINGS.items():
            owner_org = matrix.orgs[WORLD_MEMBERS[owner][0]]
            if name not in INACTIVE and owner_org != org:
                # The host centre's four members share one organisation and one expectation.
                asked[(owner_org, org, VALUE_OF[name])] = "details" if key in EXPECTED[name] else "no_hit"
    with matrix.factory() as s:
        told = {(n.owner_org_id, n.asker_org_id, n.value): n.asker_told for n in s.scalars(select(HitNotification))}
    assert told == asked
    # e.g. the host centre asked about the RED report addressed to le_gb only: bank heard of it.
    assert told[(matrix.orgs["bank"], matrix.orgs["host"], VALUE_OF["red_to_le_gb"])] == "no_hit"


def test_related_of_objects_the_viewer_may_not_read_says_not_found(matrix):
    with transaction(matrix.factory) as s:
        with pytest.raises(NotFound):
            correlate.related(s, viewer=matrix.viewer("telco"), purpose="investigation",
                              stix_id=indicator("ipv4-addr", VALUE_OF["amber"])["id"])
