"""Plain indicator lists → STIX indicators: defanged forms, comments, exact errors, stable ids."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
import stix2

from cyberfusion.errors import InvalidInput, Problem
from cyberfusion.ingest.tabular import iter_csv
from cyberfusion.ingest.text import iter_text

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

LIST = """# IOCs from the 2024-04 phishing wave
198.51.100[.]7        # C2
hxxps://login-update[.]example[.]com/verify#step2

billing[at]evil-payments.example.com
evil-payments[.]example[.]com
CVE-2024-3400
AS64500
D41D8CD98F00B204E9800998ECF8427E
2001:db8::dead:beef
  # indented comment
"""


def parse(text: str, errors: list[Problem] | None = None) -> list:
    return list(iter_text(io.BytesIO(text.encode()), file_name="list.txt", default_time=NOW,
                          errors=errors))


def test_good_list_with_defanged_values_and_comments():
    items = parse(LIST)
    assert [(i.location, i.obj["pattern"]) for i in items] == [
        ("line 2", "[ipv4-addr:value = '198.51.100.7']"),
        ("line 3", "[url:value = 'https://login-update.example.com/verify#step2']"),
        ("line 5", "[email-addr:value = 'billing@evil-payments.example.com']"),
        ("line 6", "[domain-name:value = 'evil-payments.example.com']"),
        ("line 7", "[vulnerability:name = 'CVE-2024-3400']"),
        ("line 8", "[autonomous-system:number = 64500]"),
        ("line 9", "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']"),
        ("line 10", "[ipv6-addr:value = '2001:db8::dead:beef']"),
    ]
    for item in items:
        stix2.parse(item.obj, allow_custom=True)
        assert item.obj["created"] == item.obj["modified"] == "2024-05-01T12:00:00.000Z"
        assert item.obj["valid_from"] == "2024-05-01T12:00:00.000Z"


def test_ids_are_stable_and_shared_with_csv():
    first = [i.obj for i in parse(LIST)]
    assert first == [i.obj for i in parse(LIST)]
    csv_rows = "value\n198.51.100.7\nevil-payments.example.com\n"
    from_csv = [i.obj["id"] for i in iter_csv(io.StringIO(csv_rows), file_name="x.csv",
                                               default_time=NOW)]
    assert from_csv == [first[0]["id"], first[3]["id"]]


def test_bad_line_is_named_exactly():
    errors: list[Problem] = []
    items = parse("1.2.3.4\n\n300.1.1.1   # typo\nnot an indicator\n", errors)
    assert [i.location for i in items] == ["line 1"]
    assert [str(e) for e in errors] == [
        "list.txt, line 3: field 'value': not a valid ipv4-addr: '300.1.1.1'",
        "list.txt, line 4: field 'value': not a recognised indicator: 'not an indicator'",
    ]


def test_without_an_error_list_the_problems_are_raised_after_the_good_lines():
    seen = []
    with pytest.raises(InvalidInput) as caught:
        for item in iter_text(io.StringIO("hxxp://bad[.]example.com/x\nfoo\n"),
                              file_name="l.txt", default_time=NOW):
            seen.append(item.obj["pattern"])
    assert seen == ["[url:value = 'http://bad.example.com/x']"]
    assert str(caught.value) == "l.txt, line 2: field 'value': not a recognised indicator: 'foo'"


def test_repeated_and_respelled_values_are_yielded_once():
    items = parse("evil[.]example.com\nEVIL.example.com\nevil.example.com.\n")
    assert [i.location for i in items] == ["line 1"]


def test_path_source(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("\ufeff# header\r\n203.0.113.9\r\n", encoding="utf-8")
    (item,) = iter_text(path, file_name="list.txt", default_time=NOW)
    assert (item.location, item.obj["pattern"]) == ("line 2", "[ipv4-addr:value = '203.0.113.9']")
