"""MISP warninglists: loading the conformance lists, each matching type, and `cfc warninglist`."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cyberfusion.audit.models import AuditEntry
from cyberfusion.cli import app
from cyberfusion.db import transaction
from cyberfusion.errors import InvalidInput
from cyberfusion.fusion import warninglists
from cyberfusion.fusion.models import Warninglist, WarninglistEntry
from cyberfusion.fusion.warninglists import Matcher, _compile, php_regex, read_list
from fusion.fusion_helpers import WARNINGLISTS

RFC1918 = "List of RFC 1918 CIDR blocks"
RFC5735 = "List of RFC 5735 CIDR blocks"
EMPTY = "List of known hashes for empty files"
FALSE_POSITIVES = "List of known hashes with common false-positives (based on Florian Roth input list)"
SHORTENERS = "List of known URL Shorteners domains"
TRANCO = "Top 10K most-used sites from Tranco"
SANDBOXES = "List of known domains used by automated malware analysis services & security vendors"
CONTACTS = "Common contact e-mail addresses"


@pytest.fixture(scope="module")
def every_list() -> Matcher:
    lists = [read_list(p) for p in sorted(WARNINGLISTS.glob("*/list.json"))]
    return Matcher([_compile(w.name, w.type, w.matching_attributes, w.entries) for w in lists])


def _one(type_: str, entries: list[str], attributes: tuple[str, ...] = ()) -> Matcher:
    return Matcher([_compile("L", type_, attributes, entries)])


# --- each type, on the conformance lists ---------------------------------------------------------

def test_cidr_lists_hold_addresses_and_ranges_inside_their_networks(every_list):
    assert every_list.match("ipv4-addr", "10.1.2.3") == [RFC1918, RFC5735]
    assert every_list.match("ipv4-addr", "10.1.0.0/16") == [RFC1918, RFC5735]  # a range inside 10/8
    assert every_list.match("ipv4-addr", "8.8.8.8") == []
    assert every_list.match("ipv6-addr", "2001:db8::1") == ["List of RFC 3849 CIDR blocks"]
    assert every_list.match("ipv6-addr", "fe80::1") == ["List of IPv6 link local blocks"]
    # A single address listed without a prefix (circl-security-scanning) is a /32.
    assert every_list.match("ipv4-addr", "185.194.94.170") == ["CIRCL IP address used for security scanning"]


def test_cidr_matching_is_containment_not_overlap():
    m = _one("cidr", ["192.0.2.0/25"], ("ip-src",))
    assert m.match("ipv4-addr", "192.0.2.127") == ["L"]
    assert m.match("ipv4-addr", "192.0.2.128") == []
    assert m.match("ipv4-addr", "192.0.2.0/24") == []  # larger than the listed network
    assert m.match("ipv4-addr", "192.0.2.64/26") == ["L"]


def test_string_lists_are_whole_value_matches(every_list):
    assert every_list.match("md5", "d41d8cd98f00b204e9800998ecf8427e") == [EMPTY, FALSE_POSITIVES]
    assert every_list.match("md5", "d41d8cd98f00b204e9800998ecf8427f") == []
    assert _one("string", ["ABC.example"]).match("domain-name", "abc.example") == ["L"]  # case-insensitive
    assert _one("string", ["abc.example"]).match("domain-name", "www.abc.example") == []  # no parent match


def test_hostname_lists_match_the_host_and_its_parents(every_list):
    assert SHORTENERS in every_list.match("url", "https://bit.ly/3xYz")
    assert SHORTENERS in every_list.match("domain-name", "go.bit.ly")
    assert every_list.match("domain-name", "bit.ly.evil.example") == []
    m = _one("hostname", [".Example.COM."], ("domain", "url", "email-src"))
    assert m.match("domain-name", "a.b.example.com") == ["L"]
    assert m.match("url", "https://user@x.example.com:8443/p?q=1") == ["L"]
    assert m.match("email-addr", "someone@mail.example.com") == ["L"]
    assert m.match("domain-name", "notexample.com") == []


def test_substring_lists_match_anywhere_in_the_value(every_list):
    assert SANDBOXES in every_list.match("domain-name", "sub.virustotal.com")
    assert SANDBOXES in every_list.match("url", "https://www.virustotal.com/gui/file/x")
    assert _one("substring", ["evil"]).match("domain-name", "not-evil-at-all.example") == ["L"]
    assert _one("substring", ["evil"]).match("domain-name", "benign.example") == []


def test_regex_lists_use_pcre_delimiters_and_flags(every_list):
    assert every_list.match("email-addr", "abuse@example.com") == [CONTACTS]
    assert every_list.match("email-addr", "SOC@example.org") == [CONTACTS]  # the /i flag
    assert every_list.match("email-addr", "alice@example.com") == []
    assert every_list.match("phone", "+12125550123") == ["Unattributed phone number."]
    assert php_regex("/^a.c$/i").pattern == "^a.c$" and php_regex("/^a.c$/i").flags & 2
    assert php_regex("#a/b#").search("xa/bx") is not None
    assert php_regex("/unclosed") is None and php_regex("/a/Q") is None and php_regex("/(/") is None


def test_a_list_applies_only_to_its_matching_attributes(every_list):
    # RFC 1918 is for IP attributes: a domain or a URL holding 10.1.2.3 is not on it.
    assert every_list.match("url", "http://10.1.2.3/x") == []
    assert _one("string", ["x"], ()).match("iban", "x") == ["L"]  # no attributes: every kind
    assert _one("string", ["x"], ("md5",)).match("sha1", "x") == []


def test_bad_files_are_refused_naming_the_field(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "n", "description": "d", "version": 1, "type": "fuzzy", "list": []}))
    with pytest.raises(InvalidInput) as caught:
        read_list(bad)
    assert (caught.value.field, caught.value.problems[0].file) == ("type", str(bad))
    bad.write_text(json.dumps({"name": "n", "description": "d", "type": "string", "list": ["a"]}))
    with pytest.raises(InvalidInput) as caught:
        read_list(bad)
    assert caught.value.field == "version"


# --- stored lists, re-import, the CLI --------------------------------------------------------------

def test_import_all_conformance_lists_then_reimport_is_unchanged(world):
    with transaction(world.factory) as s:
        first = warninglists.import_paths(s, [WARNINGLISTS])
    assert len(first) == 29 and {o.status for o in first} == {"created"}
    assert sum(o.unusable for o in first) == 0
    by_slug = {o.slug: o for o in first}
    assert (by_slug["rfc1918"].type, by_slug["rfc1918"].entries) == ("cidr", 3)
    with transaction(world.factory) as s:
        again = warninglists.import_paths(s, [WARNINGLISTS / "rfc1918", WARNINGLISTS / "tlds" / "list.json"])
        assert [(o.slug, o.status) for o in again] == [("rfc1918", "unchanged"), ("tlds", "unchanged")]
        assert s.scalar(select(func.count()).select_from(Warninglist)) == 29
        entries = s.scalar(select(func.count()).select_from(WarninglistEntry))
        assert entries == sum(o.entries for o in first)
        assert warninglists.check(s, value="10[.]1[.]2[.]3")["warninglists"] == [RFC1918, RFC5735]
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("warninglist.%"))).all()
        assert actions == ["warninglist.import", "warninglist.import"]


def test_updated_list_replaces_its_entries_and_disabling_stops_matching(world, tmp_path):
    path = tmp_path / "mine" / "list.json"
    path.parent.mkdir()
    doc = {"name": "Mine", "description": "d", "version": 1, "type": "string", "list": ["198.51.100.1"],
           "matching_attributes": ["ip-dst"]}
    path.write_text(json.dumps(doc))
    with transaction(world.factory) as s:
        assert [o.status for o in warninglists.import_paths(s, [path])] == ["created"]
        assert warninglists.check(s, value="198.51.100.1")["warninglists"] == ["Mine"]
    path.write_text(json.dumps(doc | {"version": 2, "list": ["198.51.100.2"]}))
    with transaction(world.factory) as s:
        assert [o.status for o in warninglists.import_paths(s, [path])] == ["updated"]
        assert warninglists.check(s, value="198.51.100.1")["warninglists"] == []
        assert warninglists.check(s, value="198.51.100.2")["warninglists"] == ["Mine"]
        warninglists.set_enabled(s, ref="mine", enabled=False)
        assert warninglists.check(s, value="198.51.100.2")["warninglists"] == []


def test_cli_import_list_check(world):
    runner = CliRunner()
    r = runner.invoke(app, ["warninglist", "import", str(WARNINGLISTS / "rfc1918"), str(WARNINGLISTS / "empty-hashes"),
                            "--format", "json"])
    assert r.exit_code == 0, r.stderr
    assert [(x["slug"], x["status"]) for x in json.loads(r.stdout)] == [("rfc1918", "created"),
                                                                        ("empty-hashes", "created")]
    listed = json.loads(runner.invoke(app, ["warninglist", "list", "--format", "json"]).stdout)
    assert [(x["slug"], x["type"], x["entries"], x["enabled"]) for x in listed] == [
        ("empty-hashes", "string", 6, True), ("rfc1918", "cidr", 3, True)]
    checked = json.loads(runner.invoke(app, ["warninglist", "check", "192.168[.]7.7", "--format", "json"]).stdout)
    assert checked == {"value": "192.168[.]7.7", "kind": "ipv4-addr", "normalised": "192.168.7.7",
                       "warninglists": [RFC1918]}
    r = runner.invoke(app, ["warninglist", "check", "not a value", "--format", "json"])
    assert r.exit_code == 2 and json.loads(r.stderr)["error"]["field"] == "value"
