"""The leak matrix for every tasking read path that returns intelligence: RFI related objects and
answers, released STIX reports, project links and intelligence shared to a group.

The links are written straight to the tables, referencing every object of the matrix: whatever an
answer, a project or a group refers to, each reader must see exactly what the policy lets it read.
"""

from __future__ import annotations

import json

from sharing.helpers import indicator
from sharing.leak import VALUE_OF, VIEWERS, assert_matrix, expected_for
from sqlalchemy import select

from cyberfusion.db import transaction, utcnow
from cyberfusion.intel.models import Contribution
from cyberfusion.tasking.groups.models import Group, GroupMember, GroupShare
from cyberfusion.tasking.projects.models import Project, ProjectMember, ProjectObject
from cyberfusion.tasking.rfi import repository as rfi_repo
from cyberfusion.tasking.rfi import service as rfis
from cyberfusion.tasking.rfi.models import RfiAnswer

IDS = {indicator("ipv4-addr", v)["id"]: name for name, v in VALUE_OF.items()}


def _link_everything(world) -> dict[str, int]:
    """An RFI (TLP:CLEAR, shared with every organisation) relating to and answered with every matrix object,
    released; a project and a group with every world member, linked to every matrix object/contribution."""
    analyst = world.viewer("analyst")
    now = utcnow()
    with transaction(world.factory) as s:
        rfi = rfis.file_rfi(s, viewer=analyst, title="matrix", question="q", tlp="clear",
                            shared_with=sorted(world.orgs.values()))
        rfi.related_objects = sorted(IDS)
        rfi.state = "answered"
        answer = RfiAnswer(rfi_id=rfi.id, author_member_id=analyst.member_id, text="all of it", created_at=now,
                           released_at=now, released_by=analyst.member_id)
        s.add(answer)
        s.flush()
        rfi_repo.add_answer_refs(s, answer_id=answer.id, stix_ids=sorted(IDS))
        project = Project(name="matrix", kind="project", objective="o", lead_member_id=analyst.member_id,
                          status="active", countries="", created_at=now)
        group = Group(name="matrix group", kind="other", description="", seeded=False, created_at=now)
        s.add_all([project, group])
        s.flush()
        s.add_all([ProjectMember(project_id=project.id, member_id=m, role="member") for m in world.members.values()])
        s.add_all([ProjectObject(project_id=project.id, stix_id=i, added_by=analyst.member_id, added_at=now)
                   for i in IDS])
        s.add_all([GroupMember(group_id=group.id, member_id=m, role="member", joined_at=now)
                   for m in world.members.values()])
        s.add_all([GroupShare(group_id=group.id, contribution_id=c, shared_by=analyst.member_id, shared_at=now)
                   for c in s.scalars(select(Contribution.id))])
        return {"rfi": rfi.id, "project": project.id, "group": group.id}


def _get(client, world, tokens, key, path, **params):
    if key not in tokens:
        tokens[key] = world.token(key)
    r = client.get(path, params=params, headers={"Authorization": f"Bearer {tokens[key]}"})
    if r.status_code == 403:
        return None
    assert r.status_code == 200, r.text
    return r


def _names(items) -> set[str]:
    return {IDS[i["id"]] for i in items}


def _read(ids, tokens, path, pick, **params):
    def read(world, key, client, tmp_path):
        r = _get(client, world, tokens, key, path.format(**ids), **params)
        return set() if r is None else _names(pick(r.json()))
    return read


READ_PATHS = {
    "rfi related objects": ("/api/v1/rfis/{rfi}", lambda j: j["related_objects"], {}),
    "rfi answer references": ("/api/v1/rfis/{rfi}", lambda j: j["answer"]["references"], {}),
    "project intelligence": ("/api/v1/projects/{project}", lambda j: j["intelligence"], {"purpose": "investigation"}),
    "group intelligence": ("/api/v1/groups/{group}/intelligence", lambda j: j["items"], {"purpose": "investigation"}),
}


def test_tasking_read_paths_join_the_leak_matrix(matrix, client, tmp_path):
    ids, tokens = _link_everything(matrix), {}
    for name, (path, pick, params) in READ_PATHS.items():
        try:
            assert_matrix(_read(ids, tokens, path, pick, **params), matrix, client, tmp_path)
        except AssertionError as exc:
            raise AssertionError(f"read path {name!r}: {exc}") from None

    # A released answer is disseminated: "no further dissemination" content stays out unless the reader
    # owns it (telco); otherwise exactly the matrix.
    outcome, expected = {}, {}
    for key in VIEWERS:
        r = _get(client, matrix, tokens, key, f"/api/v1/rfis/{ids['rfi']}/report")
        objects = [] if r is None else json.loads(r.text)["objects"]
        outcome[key] = {IDS[o["id"]] for o in objects if o["id"] in IDS}
        expected[key] = expected_for(key) - ({"no_further_dissemination"} if key != "telco" else set())
    assert outcome == expected

    # Every read is audited with the objects it returned.
    from cyberfusion.audit.models import AuditEntry
    assert _get(client, matrix, tokens, "bank", f"/api/v1/rfis/{ids['rfi']}") is not None
    with matrix.factory() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "rfi.read")
                          .order_by(AuditEntry.id.desc())).first()
    assert entry.member_id == matrix.members["bank"] and entry.purpose == "investigation"
    assert sorted(IDS[i] for i in set(entry.object_ids)) == sorted(expected_for("bank"))
