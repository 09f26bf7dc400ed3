"""Entity suggestions against the ATT&CK for ICS data held in the store."""

from __future__ import annotations

import shutil

import pytest

from ai_helpers import AI_PURPOSES
from testdata import CONFORMANCE
from cyberfusion.ai import entities
from cyberfusion.db import transaction
from cyberfusion.ingest.pipeline import import_file
from cyberfusion.partners import repository, service
from cyberfusion.sharing.handling import HandlingSpec

ATTACK = CONFORMANCE / "attack" / "ics-attack-18.1.json"


@pytest.fixture
def attack_world(world, tmp_path):  # type: ignore[no-untyped-def]
    if not ATTACK.is_file():
        pytest.skip("ATT&CK for ICS bundle not found in the conformance corpus")
    path = tmp_path / "ics-attack.json"
    shutil.copy(ATTACK, path)
    with transaction(world.factory) as s:
        viewer = service.resolve_viewer(s, repository.member_by_id(s, world.members["analyst"]))
        import_file(s, viewer=viewer, path=path, fmt="stix", spec=HandlingSpec(tlp="clear", purposes=AI_PURPOSES))
    return world


def test_malware_groups_and_techniques_are_suggested(attack_world):
    text = ("Sandworm Team deployed Industroyer against substations; the operators used T0855 "
            "(unauthorized command message) and later KillDisk.")
    with transaction(attack_world.factory) as s:
        found = entities.suggest(s, viewer=attack_world.viewer("ncb_fr"), text=text)
    got = [(m.type, m.name, m.external_id, m.matched) for m in found]
    assert ("attack-pattern", "Unauthorized Command Message", "T0855", "T0855") in got
    assert ("malware", "Industroyer", "S0604", "Industroyer") in got
    assert ("intrusion-set", "Sandworm Team", "G0034", "Sandworm Team") in got
    assert found[0].confidence == 0.95 and found[0].matched == "T0855"


def test_nothing_is_suggested_from_data_ai_may_not_process(world, tmp_path):
    if not ATTACK.is_file():
        pytest.skip("ATT&CK for ICS bundle not found in the conformance corpus")
    path = tmp_path / "ics-attack.json"
    shutil.copy(ATTACK, path)
    with transaction(world.factory) as s:
        viewer = service.resolve_viewer(s, repository.member_by_id(s, world.members["analyst"]))
        import_file(s, viewer=viewer, path=path, fmt="stix", spec=HandlingSpec(tlp="clear"))
    with transaction(world.factory) as s:
        assert entities.suggest(s, viewer=world.viewer("analyst"), text="Industroyer and T0855") == []
