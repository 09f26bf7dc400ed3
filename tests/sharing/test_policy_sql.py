"""The SQL shape of the policy filter (its outcomes are the leak matrix's business)."""

from __future__ import annotations

import re

from sqlalchemy.dialects import postgresql, sqlite

from cyberfusion.intel.models import StixObject
from cyberfusion.sharing import policy
from cyberfusion.sharing.viewer import Viewer

VIEWER = Viewer(member_id=1, email="a@example.org", roles=frozenset({"reader"}), org_id=42, org_name="Org",
                org_kind="private", org_sector=None, org_country="FI", org_region="Europe", may_receive=True,
                tlp_ceiling=2, agreement_purposes=frozenset({"investigation"}))


def _sql(dialect: object) -> str:
    clause = policy.readable_by(VIEWER, "investigation", contribution_col=StixObject.contribution_id,
                                handling_col=StixObject.handling_id, org_col=StixObject.organisation_id)
    return str(clause.compile(dialect=dialect, compile_kwargs={"literal_binds": False}))


def test_no_like_pattern_is_a_bare_parameter_on_sqlite():
    """SQLite re-prepares a statement at every execution when a LIKE pattern is a bare bound parameter."""
    sql = _sql(sqlite.dialect())
    likes = re.findall(r"LIKE ('%' \|\| \? \|\| '%'|\S+)", sql)
    assert len(likes) == 5  # recipients three times, allowed and denied countries
    assert set(likes) == {"'%' || ? || '%'"}


def test_like_patterns_on_postgresql():
    sql = _sql(postgresql.psycopg.dialect())
    assert sql.count("LIKE '%%' || %(") == 5
