"""The products demo data: realistic reports for several countries in every region, and trends above k."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import select

from cyberfusion.db import transaction
from cyberfusion.demo import load_demo
from cyberfusion.intel.models import Contribution
from cyberfusion.kit.regions import region_of
from cyberfusion.partners import repository
from cyberfusion.partners import service as partners
from cyberfusion.products import service
from cyberfusion.products.demo import CRIMES, FEWER_REPORTERS, load_products_demo
from cyberfusion.trends import service as trends


def test_demo_reports_cover_every_region_and_trends_show_the_spike(engine, factory):
    load_demo(engine, indicators=300, quiet=True)  # loads the products demo as well
    with transaction(factory) as s:
        assert load_products_demo(s) == {"contributions": 0, "objects": 0}  # loads once
        names = list(s.scalars(select(Contribution.file_name)))
        # six partners x eight crime types, three partners x three more, and three partners'
        # "no further dissemination" files
        assert sum(n.endswith(tuple(f"-{c}.json" for c in CRIMES)) for n in names) == 48
        assert sum(n.endswith(tuple(f"-{c}.json" for c in FEWER_REPORTERS)) for n in names) == 9
        assert sum(n.endswith("-nfd.json") for n in names) == 3
    with transaction(factory) as s:
        analyst = partners.resolve_viewer(s, repository.member_by_email(s, "analyst@cfc.example"))
        batch = service.generate(s, viewer=analyst, period="2026-10", all_countries=True, k=3, formats=("csv",))
        rows = batch.summary_rows()
        with_items = defaultdict(list)
        for r in rows:
            if r["items"] >= 5:
                with_items[region_of(r["country"])].append(r["country"])
        assert {region: len(cs) >= 2 for region, cs in with_items.items()} == {
            "Africa": True, "Americas": True, "Asia & South Pacific": True, "Europe": True,
            "Middle East & North Africa": True}
        assert any(r["withheld"] for r in rows)  # three partners' "no further dissemination" items
        assert sum(r.get("victim_organisation", 0) for r in rows) >= 3
        officer = partners.resolve_viewer(s, repository.member_by_email(s, "officer@ncb-abuja.example"))
        out = trends.series(s, viewer=officer, purpose="threat_reporting", k=3, region="Africa",
                            crime_type="phishing", since=datetime(2026, 6, 1, tzinfo=UTC),
                            until=datetime(2026, 11, 16, tzinfo=UTC))
        # the types reported by three partners each still clear k = 3 somewhere
        newer = {crime: trends.series(s, viewer=officer, purpose="threat_reporting", k=3, crime_type=crime,
                                      since=datetime(2026, 6, 1, tzinfo=UTC), until=datetime(2026, 11, 16, tzinfo=UTC))
                 for crime in FEWER_REPORTERS}
    assert {crime: any(v for series in out_["series"] for v in series["values"] if v is not None)
            for crime, out_ in newer.items()} == {crime: True for crime in FEWER_REPORTERS}
    phishing = out["series"][0]
    assert [sp["bucket"] for sp in phishing["spikes"]] == ["2026-W42"]
    assert sum(v is not None for v in phishing["values"]) >= 10
