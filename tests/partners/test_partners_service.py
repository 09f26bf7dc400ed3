"""Vetting and agreement gates, secondment lapse and acknowledgement, input errors."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from cyberfusion.db import transaction
from cyberfusion.errors import Conflict, Forbidden, InvalidInput
from cyberfusion.partners import repository, service


def test_pending_organisation_cannot_act(world):
    with pytest.raises(Forbidden, match="organisation vetting is pending"):
        world.viewer("pending")


def test_rejected_organisation_cannot_act(world):
    with transaction(world.factory) as s:
        service.vet_organisation(s, org=repository.org_by_id(s, world.orgs["bank"]), decision="rejected",
                                 reviewer="reviewer@host.example", notes="sanctions hit")
    with pytest.raises(Forbidden, match="organisation vetting is rejected"):
        world.viewer("bank")


def test_approved_with_valid_agreement_may_receive_and_contribute(world):
    v = world.viewer("bank")
    assert (v.may_receive, v.may_contribute, v.tlp_ceiling) == (True, True, 2)
    assert v.agreement_purposes == frozenset(
        ["investigation", "victim_notification", "network_defence", "research", "threat_reporting", "ai_processing"])


def test_expired_agreement_means_no_receipt_and_no_contribution(world):
    v = world.viewer("expired")
    assert (v.may_receive, v.may_contribute) == (False, False)


def test_agreement_purposes_limit_the_viewer(world):
    assert world.viewer("uni").agreement_purposes == frozenset({"research"})


def test_host_centre_needs_no_agreement(world):
    v = world.viewer("analyst")
    assert (v.org_kind, v.may_receive, v.tlp_ceiling, v.receive_categories) == ("host_centre", True, 4, None)


def test_seconded_expert_in_term_acts_for_host_centre(world):
    v = world.viewer("expert")
    assert v.org_id == world.orgs["host"]
    assert v.home_org_id == world.orgs["bank"]
    assert v.secondment_id is not None


def test_secondment_outside_term_stops_access(world):
    with pytest.raises(Forbidden, match="outside its term"):
        world.viewer("expert_lapsed")


def test_secondment_access_lapses_by_itself_after_end_date(world):
    with world.factory() as s:
        end = repository.secondments(s, member_id=world.members["expert"])[0].end_date
    assert world.viewer("expert", today=end).secondment_id is not None
    with pytest.raises(Forbidden, match="outside its term"):
        world.viewer("expert", today=end + timedelta(days=1))


def test_secondment_without_acknowledgement_has_no_access_until_signed(world):
    with pytest.raises(Forbidden, match="confidentiality acknowledgement required"):
        world.viewer("expert_unsigned")
    with transaction(world.factory) as s:
        sec = repository.current_secondment(s, member_id=world.members["expert_unsigned"], today=date.today())
        service.acknowledge_confidentiality(s, secondment=sec)
    assert world.viewer("expert_unsigned").home_org_id == world.orgs["telco"]


def test_overlapping_secondment_is_refused(world):
    with transaction(world.factory) as s:
        member = repository.member_by_id(s, world.members["expert"])
        with pytest.raises(Conflict, match="overlaps secondment") as exc:
            service.add_secondment(s, member=member, seconding_org=repository.org_by_id(s, world.orgs["vendor"]),
                                   start=date.today() + timedelta(days=10))
    assert exc.value.extra["field"] == "start_date"


def test_default_secondment_term_is_one_year(world):
    with transaction(world.factory) as s:
        member = service.add_member(s, email="new.expert@example.org", name="New", roles=["analyst"],
                                    org=repository.org_by_id(s, world.orgs["host"]))
        sec = service.add_secondment(s, member=member, seconding_org=repository.org_by_id(s, world.orgs["vendor"]),
                                     start=date(2026, 1, 1))
        assert sec.end_date == date(2027, 1, 1)


def test_unknown_country_code_is_rejected(session, world):
    with pytest.raises(InvalidInput) as exc:
        service.create_organisation(session, name="Nowhere Police", kind="law_enforcement", country="XX")
    assert (exc.value.field, str(exc.value)) == ("country", "field 'country': unknown ISO 3166-1 alpha-2 country code: 'XX'")


def test_private_organisation_needs_a_sector(session, world):
    with pytest.raises(InvalidInput) as exc:
        service.create_organisation(session, name="Some Shop", kind="private", country="FR")
    assert exc.value.field == "sector"


def test_region_is_derived_from_country_and_overridable(session, world):
    org = service.create_organisation(session, name="Cairo Unit", kind="law_enforcement", country="eg")
    assert (org.country, org.region) == ("EG", "Middle East & North Africa")
    other = service.create_organisation(session, name="Ankara Unit", kind="law_enforcement", country="TR",
                                        region="middle east & north africa")
    assert other.region == "Middle East & North Africa"


def test_member_roles_are_validated(session, world):
    with pytest.raises(InvalidInput) as exc:
        service.add_member(session, email="x@example.org", name="X", roles=["superuser"],
                           org=repository.org_by_id(session, world.orgs["bank"]))
    assert exc.value.field == "roles"


def test_inactive_member_cannot_act(world):
    with transaction(world.factory) as s:
        repository.member_by_id(s, world.members["bank"]).active = False
    with pytest.raises(Forbidden, match="inactive"):
        world.viewer("bank")
