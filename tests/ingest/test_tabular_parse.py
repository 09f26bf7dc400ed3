"""CSV/TSV indicator lists → STIX indicators: mapping, sniffing, exact errors, stable ids."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import pytest
import stix2

from cyberfusion.errors import InvalidInput, Problem
from cyberfusion.ingest.tabular import NAMESPACE, iter_csv

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

GOOD = f"""# exported from the fraud desk
value,type,first_seen,last_seen,tags,confidence,country,crime_type,description,name

198.51.100.7,ipv4-addr,2024-01-02,2024-12-31,c2;botnet,80,de,ransomware,C2 server,Gate
evil[.]example.com,,2024-01-02T10:00:00Z,,phish,,,,,
# a comment between rows
hxxps://evil.example.com/login,url,1704189600,,,,,,,
{SHA256.upper()},sha256,,,,,,,,
AS64500,asn,,,,,,,,
"""


def parse(text: str, name: str = "iocs.csv", **kwargs) -> list:
    return list(iter_csv(io.BytesIO(text.encode()), file_name=name, default_time=NOW, **kwargs))


def expected_id(kind: str, value: str) -> str:
    return f"indicator--{uuid.uuid5(NAMESPACE, f'{kind}:{value}')}"


def test_good_file_gives_exact_indicators():
    items = parse(GOOD)
    assert [i.location for i in items] == ["line 4", "line 5", "line 7", "line 8", "line 9"]
    first = items[0].obj
    assert first == {
        "type": "indicator", "spec_version": "2.1", "id": expected_id("ipv4-addr", "198.51.100.7"),
        "created": "2024-05-01T12:00:00.000Z", "modified": "2024-05-01T12:00:00.000Z",
        "pattern": "[ipv4-addr:value = '198.51.100.7']", "pattern_type": "stix",
        "pattern_version": "2.1", "valid_from": "2024-01-02T00:00:00.000Z",
        "valid_until": "2024-12-31T00:00:00.000Z", "name": "Gate", "description": "C2 server",
        "labels": ["c2", "botnet"], "confidence": 80, "x_cyberfusion_crime_type": "ransomware",
        "x_cyberfusion_country": "DE",
    }
    assert [i.obj["pattern"] for i in items[1:]] == [
        "[domain-name:value = 'evil.example.com']",
        "[url:value = 'https://evil.example.com/login']",
        f"[file:hashes.'SHA-256' = '{SHA256}']",
        "[autonomous-system:number = 64500]",
    ]
    assert items[1].obj["valid_from"] == "2024-01-02T10:00:00.000Z"
    assert items[2].obj["valid_from"] == "2024-01-02T10:00:00.000Z"  # epoch seconds
    assert items[3].obj["valid_from"] == "2024-05-01T12:00:00.000Z"  # default_time
    assert items[1].obj["id"] == expected_id("domain-name", "evil.example.com")
    for item in items:
        stix2.parse(item.obj, allow_custom=True)
        assert item.handling == {}


def test_reimport_and_other_spellings_give_the_same_ids():
    again = parse(GOOD)
    assert [i.obj for i in again] == [i.obj for i in parse(GOOD)]
    respelled = parse("indicator\nEVIL.Example.COM\nevil[.]example[.]com\n")
    assert [i.obj["id"] for i in respelled] == [expected_id("domain-name", "evil.example.com")]


def test_bad_line_is_named_exactly():
    text = GOOD + "300.1.1.1,ipv4-addr,,,,,,,,\n"
    errors: list[Problem] = []
    items = parse(text, errors=errors)
    assert len(items) == 5
    assert [str(e) for e in errors] == [
        "iocs.csv, line 10: field 'value': not a valid ipv4-addr: '300.1.1.1'"]
    assert errors[0].as_dict() == {"file": "iocs.csv", "location": "line 10", "field": "value",
                                   "reason": "not a valid ipv4-addr: '300.1.1.1'"}


def test_without_an_error_list_good_rows_stream_then_all_problems_are_raised():
    text = "value,type\n1.2.3.4,ipv4-addr\n300.1.1.1,ipv4-addr\nfoo,\n5.6.7.8,\n"
    seen = []
    with pytest.raises(InvalidInput) as caught:
        for item in iter_csv(io.StringIO(text), file_name="x.csv", default_time=NOW):
            seen.append(item.obj["pattern"])
    assert seen == ["[ipv4-addr:value = '1.2.3.4']", "[ipv4-addr:value = '5.6.7.8']"]
    assert [str(p) for p in caught.value.problems] == [
        "x.csv, line 3: field 'value': not a valid ipv4-addr: '300.1.1.1'",
        "x.csv, line 4: field 'value': not a recognised indicator: 'foo'",
    ]
    assert caught.value.detail.endswith("(and 1 more)")


@pytest.mark.parametrize("row, problem", [
    ("1.2.3.4,ip4,,,", "line 2: field 'type': unknown type 'ip4'; one of: ipv4-addr, ipv6-addr, "
                       "domain-name, url, email-addr, md5, sha1, sha256, sha512, btc, eth, xmr, "
                       "iban, phone, asn, cve"),
    ("1.2.3.4,,yesterday,,", "line 2: field 'first_seen': not a date or time: 'yesterday'"),
    ("1.2.3.4,,2024-02-01,2024-01-01,", "line 2: field 'last_seen': must be later than first_seen"),
    ("1.2.3.4,,,,101", "line 2: field 'confidence': not a confidence 0-100: '101'"),
    (",ipv4-addr,,,", "line 2: field 'value': empty value"),
    ("d41d8cd98f00b204e9800998ecf8427,md5,,,", "line 2: field 'value': not a valid md5: "
                                               "'d41d8cd98f00b204e9800998ecf8427' (expected 32 hex "
                                               "digits)"),
])
def test_field_errors(row, problem):
    errors: list[Problem] = []
    assert parse(f"value,type,first_seen,last_seen,confidence\n{row}\n", errors=errors) == []
    assert [str(e) for e in errors] == [f"iocs.csv, {problem}"]


def test_unknown_country_is_a_field_error():
    errors: list[Problem] = []
    parse("value,country\n1.2.3.4,QQ\n", errors=errors)
    assert [(e.location, e.field) for e in errors] == [("line 2", "country")]


def test_errors_name_the_column_as_written():
    errors: list[Problem] = []
    parse("IOC;Kind\n300.1.1.1;ipv4-addr\n", errors=errors)
    assert [str(e) for e in errors] == [
        "iocs.csv, line 2: field 'IOC': not a valid ipv4-addr: '300.1.1.1'"]


@pytest.mark.parametrize("text", [
    "value\ttype\n1.2.3.4\tipv4-addr\n",
    "value;type\n1.2.3.4;ipv4-addr\n",
    "value,type\n1.2.3.4,ipv4-addr\n",
    "\ufeffvalue,type\r\n1.2.3.4,ipv4-addr\r\n",
    "value\n1.2.3.4\n",
])
def test_delimiter_is_sniffed(text):
    assert [i.obj["pattern"] for i in parse(text)] == ["[ipv4-addr:value = '1.2.3.4']"]


def test_explicit_delimiter_and_mapping():
    text = "IOC Value|Kind|Seen|Why|Score\nphish[@]example.com|email|2024-03-01|lure|55\n"
    mapping = {"IOC Value": "value", "kind": "type", "Seen": "valid_from", "Why": "description",
               "Score": "confidence"}
    (item,) = parse(text, mapping=mapping, delimiter="|")
    assert item.obj["pattern"] == "[email-addr:value = 'phish@example.com']"
    assert (item.obj["valid_from"], item.obj["description"], item.obj["confidence"]) == (
        "2024-03-01T00:00:00.000Z", "lure", 55)


def test_mapping_errors_name_line_one():
    with pytest.raises(InvalidInput) as caught:
        parse("a,b\n1.2.3.4,x\n", mapping={"a": "value", "b": "colour"})
    assert str(caught.value.problems[0]) == (
        "iocs.csv, line 1: field 'b': mapping names unknown field 'colour'; one of: value, type, "
        "first_seen, last_seen, description, labels, confidence, name, crime_type, country")
    with pytest.raises(InvalidInput, match="mapped column 'c' is not in the header"):
        parse("a,b\n1.2.3.4,x\n", mapping={"c": "value"})
    with pytest.raises(InvalidInput) as caught:
        parse("colour,size\nred,1\n")
    assert caught.value.problems[0].location == "line 1"
    assert caught.value.field == "value"


def test_empty_and_comment_only_files_are_rejected():
    with pytest.raises(InvalidInput, match="empty"):
        parse("# nothing here\n\n")


def test_repeated_values_are_yielded_once():
    items = parse("value\n1.2.3.4\n1.2.3.4\n")
    assert [i.location for i in items] == ["line 2"]


def test_path_source(tmp_path):
    path = tmp_path / "feed.tsv"
    path.write_text("indicator\tdescription\n2001:DB8::1\tv6 host\n", encoding="utf-8")
    (item,) = iter_csv(path, file_name="feed.tsv", default_time=NOW)
    assert item.obj["pattern"] == "[ipv6-addr:value = '2001:db8::1']"
