"""Hostile TAXII query parameters, headers and bodies: a result or a located 4xx, never a 5xx."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from hostile import json_values, result_or_located
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cyberfusion.errors import CyberfusionError, InvalidInput
from cyberfusion.taxii import media, pagination, service

_NAMES = st.sampled_from(["limit", "next", "added_after", "match[id]", "match[type]", "match[version]",
                          "match[spec_version]", "match[foo]", "match[", "x"])
_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["0", "-1", "1", "5001", "99999999999999999999", "²", "١٢", "1e3", " 7 ", "first", "last",
                     "all", "2.1", "2.0", "2026-01-31T12:00:00Z", "2026-02-30T00:00:00Z", "9999-12-31T23:59:59Z",
                     "0000-01-01T00:00:00Z", "2026-01-31T12:00:00+00:00", "indicator", ",,,", "a" * 200]),
)
_PARAMS = st.dictionaries(_NAMES, st.lists(_VALUES, min_size=1, max_size=3), max_size=5)
_ALLOWED = st.sampled_from([service.OBJECTS_PARAMS, service.OBJECT_PARAMS, service.VERSIONS_PARAMS,
                            service.DELETE_PARAMS])


@given(_PARAMS, _ALLOWED)
@example({"limit": ["²"]}, service.OBJECTS_PARAMS)  # regression: str.isdigit accepts '²', int() does not
@example({"match[version]": ["٢٠٢٦-01-31T12:00:00Z"]}, service.OBJECTS_PARAMS)
def test_parse_query_gives_a_query_or_a_located_error(params: dict[str, list[str]], allowed: frozenset[str]) -> None:
    out = result_or_located(lambda: service.parse_query(params, allowed))
    if not isinstance(out, InvalidInput):
        _, limit, _ = out
        assert 1 <= limit <= service.MAX_LIMIT


@given(st.text(max_size=120), st.sampled_from(["objects", "manifest"]))
def test_a_forged_next_cursor_is_invalid_input(cursor: str, scope: str) -> None:
    out = result_or_located(lambda: pagination.decode(cursor, secret="k" * 40, scope=scope))
    assert isinstance(out, InvalidInput) and out.field == "next"


@given(st.one_of(st.none(), st.text(max_size=80),
                 st.lists(st.sampled_from(["application/taxii+json", "application/stix+json", "*/*", ";",
                                           "version=2.1", "version=2.0", "q=0", "q=nan", "q=-inf", "q=x", ",",
                                           "application/*", "text/html", "=", '"']), max_size=8).map("".join)))
def test_accept_and_content_type_negotiation(header: str | None) -> None:
    for check in (lambda: media.negotiate(header, ("application/taxii+json", "application/stix+json")),
                  lambda: media.require_content_type(header)):
        try:
            check()
        except CyberfusionError as exc:  # 406 / 415: the TAXII error resource
            assert exc.status in (406, 415) and exc.detail


@given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
@example(b"[" * 5000 + b"]" * 5000)  # regression: RecursionError from json.loads was not caught
def test_envelope_body_gives_objects_or_a_located_error(body: bytes) -> None:
    out = result_or_located(lambda: service.parse_envelope(body))
    if not isinstance(out, InvalidInput):
        assert isinstance(out, list)


# --- over HTTP: the real app, hostile query strings and Authorization headers ------------------------

_QUERY_PATHS = ["/taxii2/cfc/collections/{c}/objects/", "/taxii2/cfc/collections/{c}/manifest/",
                "/taxii2/cfc/collections/{c}/objects/indicator--2f5e0e7c-8f5c-4f6e-9f1a-3c4b5d6e7f80/versions/"]


@pytest.fixture
def taxii_client(client, world):  # type: ignore[no-untyped-def]
    client.headers["Authorization"] = f"Bearer {world.token('analyst')}"
    client.headers["Accept"] = "application/taxii+json;version=2.1"
    return client


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(path=st.sampled_from(_QUERY_PATHS), params=_PARAMS)
def test_hostile_query_strings_never_give_a_server_error(taxii_client, path: str, params) -> None:  # type: ignore[no-untyped-def]
    query = "&".join(f"{quote(k)}={quote(v)}" for k, vs in params.items() for v in vs)
    r = taxii_client.get(path.format(c="tlp-green") + "?" + query)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/taxii+json")
        assert r.json()["http_status"] == str(r.status_code)


_HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                       max_size=60)
_AUTH = st.one_of(
    _HEADER_TEXT, _HEADER_TEXT.map(lambda t: "Basic " + t), _HEADER_TEXT.map(lambda t: "Bearer " + t),
    st.sampled_from(["Basic", "Bearer", "Basic é", "Basic ====", "Bearer cfc_", "Basic " + "A" * 4000]),
    st.tuples(st.sampled_from(["Basic "]), st.binary(max_size=40)).map(lambda t: t[0] + base64.b64encode(t[1]).decode()),
)


@pytest.fixture
def unthrottled(monkeypatch: pytest.MonkeyPatch) -> None:
    # Forty wrong credentials from one address would trip the failed-auth limit (429): that
    # limit has its own test (tests/security); here every header must reach the token check.
    monkeypatch.setenv("CFC_API_AUTH_MAX_FAILURES", "1000")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(header=_AUTH)
@example(header="Basic é")  # regression: a non-ASCII Basic value raised ValueError (a 500)
def test_hostile_authorization_headers_get_401(unthrottled, client, header: str) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/taxii2/", headers={"Authorization": header.encode("latin-1")})
    assert r.status_code == 401, r.text
