"""The batch lookup's in-memory filter of stored values (``fusion/valuefilter.py``): it only keeps
values away from the database that cannot match, so a lookup answers exactly the same with it and
without it — after new imports (read by key, no rebuild), after deletes that free keys for reuse
(migration 0102's counter starts it over), and above its size cap (not used). PostgreSQL: never
used."""

from __future__ import annotations

import random
import time

import pytest
from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select, text

from cyberfusion.config import get_settings
from cyberfusion.db import alembic_config, transaction, upgrade
from cyberfusion.fusion import correlate, hits, repository, valuefilter
from cyberfusion.fusion.models import ValueEpoch
from cyberfusion.intel import repository as intel_repository
from fusion.fusion_helpers import give, indicator

PURPOSE = "investigation"
# Enough distinct values for the filter to be asked (valuefilter.MIN_VALUES).
FILLER = [f"203.0.113.{i}" for i in range(1, valuefilter.MIN_VALUES + 1)]


def _objects(tag: str) -> list[dict]:
    return [indicator("ipv4-addr", f"198.51.100.{tag}"), indicator("domain-name", f"evil{tag}.example.com"),
            indicator("url", f"https://cdn{tag}.example.net/payload"), indicator("ipv4-addr", f"10.{tag}.0.0/16"),
            indicator("email-addr", f"boss{tag}@mail{tag}.example.org")]


def _asked(tag: str) -> list[str]:
    # A stored value, a defanged one, the host of a stored URL and of a stored e-mail address,
    # an address inside a stored range, a URL on a stored host, and values stored nowhere.
    return [f"198.51.100.{tag}", f"evil{tag}[.]example.com", f"cdn{tag}.example.net", f"mail{tag}.example.org",
            f"10.{tag}.3.4", f"https://evil{tag}.example.com/x", "192.0.2.1", "nothing.example", *FILLER]


def _lookup(world, values: list[str], *, max_values: int) -> list[dict]:
    settings = get_settings().model_copy(update={"lookup_filter_max_values": max_values})
    with transaction(world.factory) as s:
        result = hits.lookup(s, viewer=world.viewer("ncb_fr"), purpose=PURPOSE, values=values, settings=settings)
    return [{k: v for k, v in r.items() if k not in ("references", "details")} | {"hit": r["result"] == "hit"}
            for r in result.results]


def _same_with_and_without(world, values: list[str]) -> list[dict]:
    with_filter = _lookup(world, values, max_values=1_000_000)
    assert with_filter == _lookup(world, values, max_values=0)
    return with_filter


def _hits(answers: list[dict]) -> list[str]:
    return [a["value"] for a in answers if a["hit"]]


def _sent_values(monkeypatch) -> list[list[str]]:
    """The values each exact-match query is given."""
    sent: list[list[str]] = []
    real = repository.match_groups

    def spy(session, **kw):  # noqa: ANN001, ANN202
        sent.append(list(kw["values"]))
        return real(session, **kw)

    monkeypatch.setattr(repository, "match_groups", spy)
    return sent


def _filter(engine) -> valuefilter.ValueFilter | None:
    return valuefilter.for_engine(engine, max_values=1_000_000)


def test_the_answers_are_the_same_and_only_possible_matches_are_sent(engine, world, tmp_path, monkeypatch) -> None:
    give(world, tmp_path, "vendor", _objects("7"))
    f = _filter(engine)
    if engine.dialect.name != "sqlite":
        assert f is None  # PostgreSQL: a sequence's order is not its commit order
        _same_with_and_without(world, _asked("7"))
        return
    f.build()
    sent = _sent_values(monkeypatch)
    answers = _same_with_and_without(world, _asked("7"))
    assert _hits(answers) == ["198.51.100.7", "evil7[.]example.com", "cdn7.example.net", "mail7.example.org",
                              "10.7.3.4"]
    with_filter, without = sent[:2], sent[2:]
    # Exact values, then host terms: with the filter, only stored ones (plus any hash collision).
    assert set(with_filter[0]) == {"198.51.100.7", "evil7.example.com"}
    assert set(with_filter[1]) == {"com.example.evil7", "net.example.cdn7", "org.example.mail7"}
    assert len(without[0]) == len(_asked("7"))  # every value asked


def test_new_imports_are_read_by_key_without_a_rebuild(engine, world, tmp_path) -> None:
    give(world, tmp_path, "vendor", _objects("7"))
    f = _filter(engine)
    if f is None:
        return
    f.build()
    hashes = f._state.hashes
    give(world, tmp_path, "bank", _objects("8"))
    answers = _same_with_and_without(world, _asked("8") + _asked("7"))
    assert len(_hits(answers)) == 10
    assert f._state.hashes is hashes  # added to, not rebuilt
    with transaction(world.factory) as s:
        assert (f._state.observables, f._state.terms) == repository.value_marks(s)[1:]


def test_a_delete_starts_it_over_so_reused_keys_are_not_missed(engine, world, tmp_path) -> None:
    give(world, tmp_path, "vendor", _objects("7"))
    last = give(world, tmp_path, "bank", _objects("8"))
    f = _filter(engine)
    if f is None:
        return
    f.build()
    with transaction(world.factory) as s:
        before = repository.value_marks(s)
        # The newest contribution's rows hold the top keys: deleting them lets SQLite give the
        # next rows the same keys, below what the filter has read.
        correlate.forget_contribution(s, contribution_id=last.contribution_id)
        intel_repository.delete_contribution_rows(s, last.contribution_id)
    give(world, tmp_path, "telco", _objects("9"))
    with transaction(world.factory) as s:
        deletions, observables, _terms = repository.value_marks(s)
        assert deletions > before[0]
        assert observables <= before[1]  # the new rows took keys the filter had already read past
        assert f.current(s) is None  # so it is not used until built again
    f.build()
    answers = _same_with_and_without(world, _asked("9") + _asked("8"))
    assert _hits(answers) == ["198.51.100.9", "evil9[.]example.com", "cdn9.example.net", "mail9.example.org",
                              "10.9.3.4"]
    with transaction(world.factory) as s:
        assert f.current(s) is not None


def test_a_rolled_back_delete_counts_nothing(engine, world, tmp_path) -> None:
    result = give(world, tmp_path, "vendor", _objects("7"))
    if engine.dialect.name != "sqlite":
        return
    with world.factory() as s:
        intel_repository.delete_contribution_rows(s, result.contribution_id)
        assert s.scalar(select(ValueEpoch.deletions)) > 0
        s.rollback()
    with world.factory() as s:
        assert s.scalar(select(ValueEpoch.deletions)) == 0


def test_above_its_cap_it_is_not_used(engine, world, tmp_path) -> None:
    give(world, tmp_path, "vendor", _objects("7"))
    small = valuefilter.ValueFilter(engine, max_values=3)
    if engine.dialect.name != "sqlite":
        return
    small.build()
    with transaction(world.factory) as s:
        assert small.current(s) is None
    answers = _lookup(world, _asked("7"), max_values=3)  # the process's filter, capped: not used
    assert len(_hits(answers)) == 5


def test_the_background_build_makes_it_ready(engine, world, tmp_path) -> None:
    give(world, tmp_path, "vendor", _objects("7"))
    f = valuefilter.ValueFilter(engine, max_values=1_000_000)
    if engine.dialect.name != "sqlite":
        return
    with transaction(world.factory) as s:
        assert f.current(s) is None  # not built: starts the build, the lookup asks the database
    for _ in range(1000):
        with f._lock:
            if not f._building:
                break
        time.sleep(0.01)
    with transaction(world.factory) as s:
        hashes = f.current(s)
    assert hashes is not None and "198.51.100.7" in hashes and "net.example.cdn7" in hashes


def test_the_migration_adds_and_removes_the_counter(engine) -> None:
    def triggers() -> set[str]:
        with engine.connect() as conn:
            return set(conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0101")
        assert "fusion_value_epoch" not in inspect(engine).get_table_names()
    finally:
        upgrade(engine)
    assert "fusion_value_epoch" in inspect(engine).get_table_names()
    if engine.dialect.name == "sqlite":
        assert {"observables_value_epoch", "fusion_terms_value_epoch"} <= triggers()
    with engine.connect() as conn:
        assert conn.execute(select(ValueEpoch.id, ValueEpoch.deletions)).all() == [(1, 0)]


@pytest.mark.parametrize("native", [True, False])
def test_the_set_of_hashes_never_misses_a_value_it_was_given(native) -> None:
    if native:
        pytest.importorskip("cyberfusion.fusion._fastlookup", reason="the C extension is not built")
    hashes = valuefilter.new_hashes(native=native)
    assert isinstance(hashes, valuefilter.PyHashes) is not native
    rng = random.Random(7)
    stored = [f"{rng.getrandbits(64):x}.example" for _ in range(50_000)]
    for start in range(0, len(stored), 7_000):  # grown step by step, as imports add rows
        hashes.update(iter(stored[start:start + 7_000]))
    asked = stored[::3] + [f"{rng.getrandbits(64):x}.other" for _ in range(50_000)]
    kept = hashes.filter(asked)
    assert kept[:len(stored[::3])] == stored[::3]  # every stored one, in order
    assert len(kept) - len(stored[::3]) < 50  # and (next to) none of the others
    assert len(hashes) == len(set(map(hash, stored)))
    assert all(v in hashes for v in stored[:1000])
    hashes.update(["x", "x", ""])
    assert hashes.filter(["", "x", "y"])[:2] == ["", "x"]


@given(st.lists(st.text(max_size=20), max_size=200), st.lists(st.text(max_size=20), max_size=200))
@settings(max_examples=200, deadline=None)
def test_the_c_set_and_the_python_set_agree(stored: list[str], asked: list[str]) -> None:
    pytest.importorskip("cyberfusion.fusion._fastlookup", reason="the C extension is not built")
    c, py = valuefilter.new_hashes(native=True), valuefilter.new_hashes(native=False)
    c.update(stored)
    py.update(stored)
    assert c.filter(asked + stored) == py.filter(asked + stored)
    assert len(c) == len(py)


def test_native_false_keeps_the_hashes_in_python(engine, world, tmp_path) -> None:
    give(world, tmp_path, "vendor", _objects("7"))
    if engine.dialect.name != "sqlite":
        return
    f = valuefilter.ValueFilter(engine, max_values=1_000_000, native=False)
    f.build()
    assert isinstance(f._state.hashes, valuefilter.PyHashes)
    assert "198.51.100.7" in f._state.hashes


def test_the_filter_shows_no_viewer_more_than_the_policy_allows(engine, world, tmp_path) -> None:
    # Readable only by the vendor, and readable with hit reveal "no": with the filter ready, a
    # large lookup by a bureau gets exactly what it gets without it (no_hit, a bare reference),
    # and the owners are notified alike.
    give(world, tmp_path, "bank", [indicator("url", "http://pay.example.net/x")], tlp="green",
         recipients=("vendor",))
    give(world, tmp_path, "bank", [indicator("domain-name", "evil-bank.example.com")], tlp="amber",
         hit_reveal=False)
    f = _filter(engine)
    if f is not None:
        f.build()
    asked = ["http://pay.example.net/x", "evil-bank.example.com", *FILLER]
    answers, notified = [], []
    for max_values in (1_000_000, 0):
        settings = get_settings().model_copy(update={"lookup_filter_max_values": max_values})
        with transaction(world.factory) as s:
            result = hits.lookup(s, viewer=world.viewer("ncb_fr"), purpose=PURPOSE, values=asked, settings=settings)
        answers.append([{k: ([r["owner"] for r in v] if k == "references" else v) for k, v in a.items()}
                        for a in result.results])
        notified.append(sorted((n["value"], n["asker_told"], n["times_asked"]) for n in _inbox(world, "bank")))
    assert answers[0] == answers[1]
    assert answers[0][0] == {"value": "http://pay.example.net/x", "kind": "url",
                             "normalised": "http://pay.example.net/x", "result": "no_hit"}
    assert answers[0][1] == {"value": "evil-bank.example.com", "kind": "domain-name",
                             "normalised": "evil-bank.example.com", "result": "hit", "references": ["Big Bank"],
                             "warninglists": []}
    # The same two notifications, raised by the first lookup and renewed by the second.
    assert [(v, told) for v, told, _n in notified[0]] == [(v, told) for v, told, _n in notified[1]]
    assert [n for _v, _t, n in notified[0]] == [1, 1] and [n for _v, _t, n in notified[1]] == [2, 2]
    assert len(notified[0]) == 2


def _inbox(world, key: str) -> list[dict]:
    with transaction(world.factory) as s:
        return hits.inbox(s, viewer=world.viewer(key), limit=1000)
