"""The demo fusion centre: deterministic, complete, and safe to load twice."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cyberfusion.cli import app
from cyberfusion.demo import LOGINS, load_demo
from cyberfusion.errors import Forbidden
from cyberfusion.intel.models import Contribution, StixObject
from cyberfusion.partners import repository, service
from cyberfusion.partners.models import Organisation


def test_demo_loads_once_with_every_kind_of_partner(engine, factory):
    first = load_demo(engine, indicators=600, quiet=True)
    second = load_demo(engine, indicators=600, quiet=True)
    assert (first["loaded_now"], second["loaded_now"]) == (True, False)
    assert first["objects"] == second["objects"] > 600
    # the products demo adds a feed account for each of its eight contributing partners
    assert (first["organisations"], first["members"]) == (33, len(LOGINS) + 8)
    with factory() as s:
        orgs = list(s.scalars(select(Organisation)))
        assert {o.kind for o in orgs} == {"law_enforcement", "national_bureau", "private", "academia",
                                           "international", "host_centre"}
        assert {o.sector for o in orgs if o.kind == "private"} == {"internet_security", "financial", "telecom", "other"}
        assert {o.region for o in orgs} == {"Africa", "Americas", "Asia & South Pacific", "Europe",
                                            "Middle East & North Africa"}
        assert sorted(o.vetting_status for o in orgs).count("approved") == 31
        # six main contributions, 60 from the products demo (six partners x eight crime types, three
        # partners x three more types, three "no further dissemination" files)
        assert s.scalar(select(func.count()).select_from(Contribution)) == 6 + 60
        tlps = {t for t in s.scalars(select(StixObject.handling_id).distinct())}
        assert len(tlps) >= 5


def test_demo_accounts_behave_as_documented(engine, factory):
    load_demo(engine, indicators=300, quiet=True)
    today = date.today()
    with factory() as s:
        def viewer(email):
            return service.resolve_viewer(s, repository.member_by_email(s, email), today=today)
        assert viewer("expert@cfc.example").home_org_id is not None
        for email, reason in (("expert.lapsed@cfc.example", "outside its term"),
                              ("expert.unsigned@cfc.example", "confidentiality acknowledgement")):
            with pytest.raises(Forbidden, match=reason):
                viewer(email)
        assert viewer("reader@icss.example").agreement_purposes == frozenset({"research"})
        assert viewer("officer@ncb-lyon.example").tlp_ceiling == 3


def test_cfc_demo_no_serve_prints_logins_as_json(engine):
    r = CliRunner().invoke(app, ["demo", "--no-serve", "--indicators", "200", "--format", "json"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["url"] == "http://127.0.0.1:8000/"
    assert {x["email"] for x in out["logins"]} == {email for _, email, _, _ in LOGINS}
