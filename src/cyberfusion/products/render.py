"""Country report files: HTML (self-contained, printable), PDF, STIX 2.1 report bundle, CSV.

Every piece of text that came from partners or users is HTML-escaped: by Jinja2 autoescaping, or
for the item rows by markupsafe (what Jinja2 uses) in ``_rows_html``;
the PDF renderer may not fetch anything but ``data:`` URLs, so a hostile value cannot
make the server call out.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import uuid
import zlib
from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from json.encoder import encode_basestring as _json_str  # what json.dumps(ensure_ascii=False) uses
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from cyberfusion.kit.observables import to_pattern
from cyberfusion.kit.timeutil import format_ts, isoformat_utc
from cyberfusion.products.country_report import CompiledReport, Item
from cyberfusion.products.roles import ACTIONS, ROLES
from cyberfusion.sharing.markings import (
    TLP2_MARKING_IDS,
    TLP_COLOURS,
    tlp2_marking_definition,
)

MAX_HTML_ITEMS = 200  # per category; the CSV and STIX files carry every item
REPORT_NS = uuid.UUID("5a1d3c0e-2b8f-4e61-9a7d-0c3e5b7f9d21")
CSV_COLUMNS = ("category", "role", "kind", "observable", "crime_types", "first_seen", "last_seen",
               "corroboration", "sources", "confidence", "related", "recommended_actions", "basis", "network")


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("cyberfusion.products", "templates"),
                      autoescape=select_autoescape(["html"], default=True), trim_blocks=True, lstrip_blocks=True)
    env.filters["ts"] = lambda d: d.strftime("%Y-%m-%d %H:%M") if isinstance(d, datetime) else ""
    env.filters["day"] = lambda d: d.strftime("%Y-%m-%d") if isinstance(d, datetime) else ""
    env.filters["action"] = lambda a: a.replace("_", " ")
    return env


def _day(d: Any) -> str:
    return _day_text(d.toordinal()) if isinstance(d, datetime) else ""


@lru_cache(maxsize=4096)
def _day_text(ordinal: int) -> str:
    """strftime("%Y-%m-%d") once per date: two per item row (1 us each), and a period has few dates."""
    return date.fromordinal(ordinal).strftime("%Y-%m-%d")


def _rows_html(items: list[Item]) -> Markup:
    """The item rows of one category table, exactly as the template's row loop wrote them.

    Rendering rows through Jinja2 (one filter call and escape per cell) was 25% of generating all
    reports (cProfile, 100k observables, 58 countries): here the text cells of every row are joined
    with NUL, escaped by markupsafe in one call and split again."""
    cells: list[str] = []
    for i in items:
        cells += (i.value, i.network, ", ".join(i.crime_types), "; ".join(i.sources), "; ".join(i.related),
                  ", ".join(a.replace("_", " ") for a in i.actions), "; ".join(i.basis))
    joined = "\0".join(cells)
    if joined.count("\0") == len(cells) - 1:
        safe = str(escape(joined)).split("\0")
    else:  # a NUL inside a value: escape cell by cell
        safe = [str(escape(c)) for c in cells]
    out: list[str] = []
    for n, i in enumerate(items):
        value, network, crime, sources, related, actions, basis = safe[7 * n:7 * n + 7]
        conf = "" if i.confidence is None else str(escape(i.confidence))
        out.append(f'    <tr>\n      <td class="obs">{value}'
                   f'{f"""<div class="small">{network}</div>""" if i.network else ""}</td>\n'
                   f"      <td>{crime}</td>\n"
                   f'      <td class="small">{_day(i.first_seen)}<br>{_day(i.last_seen)}</td>\n'
                   f'      <td class="num">{escape(i.corroboration)}<div class="small">{sources}</div></td>\n'
                   f'      <td class="num">{conf}</td>\n'
                   f'      <td class="small">{related}</td>\n'
                   f"      <td>{actions}</td>\n"
                   f'      <td class="small">{basis}</td>\n'
                   f"    </tr>\n")
    return Markup("".join(out))


def _groups(report: CompiledReport) -> list[dict[str, Any]]:
    groups: dict[str, list[Item]] = {}
    for item in report.items:
        groups.setdefault(item.role, []).append(item)
    return [{"role": role, "title": ROLES[role], "count": len(items), "rows": _rows_html(items[:MAX_HTML_ITEMS]),
             "more": max(0, len(items) - MAX_HTML_ITEMS)} for role, items in groups.items()]


def html(report: CompiledReport, *, report_id: str, generated_at: datetime, generated_by: str,
         centre: str) -> str:
    return environment().get_template("country_report.html").render(
        r=report, report_id=report_id, generated_at=generated_at, generated_by=generated_by, centre=centre,
        groups=_groups(report), counts=report.counts(), roles=ROLES, tlp_colour=TLP_COLOURS[report.tlp],
        actions=ACTIONS)


def pdf(html_text: str) -> bytes:
    """Render HTML to PDF; only data: URLs may be fetched (nothing local or remote)."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    return HTML(string=html_text, base_url=None, url_fetcher=URLFetcher(allowed_protocols=("data",))).write_pdf()


_INDICATOR_TYPES = {"compromised_host": '["compromised"]'}  # as JSON text; others: malicious-activity


def _uuid5_of(prefix: bytes) -> Any:
    """uuid.uuid5(REPORT_NS, prefix + name) as text, for many names sharing a prefix: one SHA-1 state
    copied per name (uuid.uuid5 builds a UUID object per call; 2.1 of 9.7 s of the STIX file at 100k)."""
    base = hashlib.sha1(REPORT_NS.bytes + prefix, usedforsecurity=False)

    def make(name: str) -> str:
        h = base.copy()
        h.update(name.encode())
        x = h.hexdigest()
        # version 5 in the 13th hex digit, the RFC 4122 variant (10xx) in the 17th
        return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"
    return make


_VARIANT = {f"{v:x}": f"{(v & 0x3) | 0x8:x}" for v in range(16)}


def _json_value(value: Any) -> str:
    return str(value) if type(value) is int else json.dumps(value, ensure_ascii=False)


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _item_objects(report: CompiledReport, report_id: str, common: str, refs: list[str], texts: list[str]) -> None:
    """The id and JSON text of one indicator (identity for victims) per item, appended to ``refs`` and
    ``texts``, written as text: building a dict per item and dumping the bundle at once was 20% of
    generating all reports (100k, cProfile). Keys and separators are those ``json.dumps`` wrote for the
    dicts, so the bytes are the same. JSON escaping goes character by character, so the escaped text
    of a string is that of its parts joined: the description's start (per role, actions,
    corroboration and linking) is escaped once per distinct start, not once per item."""
    oid_of = _uuid5_of(f"{report_id}|".encode())
    described: dict[tuple[Any, ...], str] = {}  # JSON text of the description's start, without the closing quote
    labels_of: dict[tuple[str, ...], str] = {}
    confidence_of: dict[Any, str] = {None: ""}
    named = {role: f"{title}: " for role, title in ROLES.items()}
    period_start = report.period.start
    add_ref, add_text = refs.append, texts.append
    for item in report.items:
        role, kind, value = item.role, item.kind, item.value
        dkey = (role, tuple(item.actions), item.corroboration, tuple(item.basis))
        description = described.get(dkey)
        if description is None:
            head = (f"{ROLES[role]}. Recommended: {', '.join(a.replace('_', ' ') for a in item.actions)}. "
                    f"Corroboration: {item.corroboration} source(s). Linked by: {', '.join(item.basis)}.")
            description = described[dkey] = _json_str(head)[:-1]
        description += (_json_str(" Related: " + "; ".join(item.related) + ".")[1:] if item.related else '"')
        confidence = item.confidence
        conf = confidence_of.get(confidence) if type(confidence) is int or confidence is None else None
        if conf is None:  # keyed by int only: 80, 80.0 and True are one dict key but not one JSON text
            conf = f',"confidence":{_json_value(confidence)}'
            if type(confidence) is int:
                confidence_of[confidence] = conf
        if kind == "organisation":
            sid = f"identity--{oid_of(f'{kind}|{value}')}"
            add_ref(sid)
            add_text(f'{{"type":"identity","id":"{sid}",{common},"name":{_json_str(value)},'
                     f'"identity_class":"organization","description":{description},'
                     f'"labels":["victim"]{conf}}}')
            continue
        try:
            pattern = to_pattern(kind, value)
        except Exception:  # noqa: BLE001, S112 - a stored value that no longer normalises is left out
            continue
        sid = f"indicator--{oid_of(f'{kind}|{value}')}"
        labels_key = (role, *item.crime_types)
        labels = labels_of.get(labels_key) or labels_of.setdefault(labels_key, _dump(list(labels_key)))
        types = _INDICATOR_TYPES.get(role, '["malicious-activity"]')
        add_ref(sid)
        add_text(f'{{"type":"indicator","id":"{sid}",{common},'
                 f'"name":{_json_str((named[role] + value)[:250])},'
                 f'"description":{description},"indicator_types":{types},'
                 f'"pattern":{_json_str(pattern)},"pattern_type":"stix",'
                 f'"valid_from":"{format_ts(item.first_seen or period_start)}","labels":{labels}{conf}}}')


def stix_bundle(report: CompiledReport, *, report_id: str, generated_at: datetime, centre: str,
                centre_identity: str) -> str:
    ts = format_ts(generated_at)
    tlp = tlp2_marking_definition(report.tlp)
    marking = [TLP2_MARKING_IDS[report.tlp]]
    common = {"spec_version": "2.1", "created": ts, "modified": ts, "created_by_ref": centre_identity,
              "object_marking_refs": marking}
    location = {"type": "location", "id": f"location--{uuid.uuid5(REPORT_NS, report.country)}", **common,
                "name": report.country_name, "country": report.country}
    identity = {"type": "identity", "id": centre_identity, "spec_version": "2.1", "created": ts, "modified": ts,
                "name": centre, "identity_class": "organization"}
    texts = [_dump(identity), _dump(tlp), _dump(location)]
    refs = [location["id"]]
    _item_objects(report, report_id, _dump(common)[1:-1], refs, texts)
    for rec in report.recommendations:
        coa = {"type": "course-of-action", **common,
               "id": f"course-of-action--{uuid.uuid5(REPORT_NS, report_id + '|' + rec['title'])}",
               "name": rec["title"], "description": f"{rec['audience']}: {rec['text']}".strip()}
        refs.append(coa["id"])
        texts.append(_dump(coa))
    texts.append(_dump({
        "type": "report", "id": f"report--{report_id}", **common,
        "name": f"Country cyber activity report: {report.country_name}, {report.period.label}",
        "description": (f"{len(report.items)} items linked to {report.country_name} for {report.period.label}. "
                        f"IP geolocation: {report.geo_database['source']}."),
        "published": ts, "report_types": ["threat-report"], "object_refs": refs}))
    return (f'{{"type":"bundle","id":"bundle--{uuid.uuid5(REPORT_NS, report_id)}","objects":['
            + ",".join(texts) + "]}")


_FORMULA_START = frozenset("=@\t\r")


def _cell(text: str, *, observable: bool = False) -> str:
    # Spreadsheet formula injection: a partner's value must never run as a formula.
    if text and (text[0] in _FORMULA_START or (text[0] in "+-" and not observable)):
        return "'" + text
    return text


def _iso(value: datetime | None) -> str:
    return "" if value is None else isoformat_utc(value)


# A row whose text has exactly its 13 separators and no quote or line break is written by
# csv.writer (QUOTE_MINIMAL) as the cells joined by commas: such rows are formatted in one f-string
# (the list per row and the writer's per-cell work were most of the CSV's 0.19 s at 100k); any
# other row goes through csv.writer itself.
_CSV_PLAIN_SEPARATORS = len(CSV_COLUMNS) - 1
_CSV_QUOTED = re.compile(r'["\r\n]')


class _Cells(dict[str, str]):
    """Cell text -> guarded cell text, each distinct text guarded once (sources, linking and related
    texts are shared by many items; a str's hash is kept, so a look-up costs less than a call)."""

    def __missing__(self, text: str) -> str:
        self[text] = guarded = _cell(text)
        return guarded


def csv_text(report: CompiledReport) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    titles = {role: _cell(title) for role, title in ROLES.items()}
    cells = _Cells()
    plain, quoted, write = _CSV_PLAIN_SEPARATORS, _CSV_QUOTED.search, out.write
    for i in report.items:
        seen = i.first_seen
        first = "" if seen is None else isoformat_utc(seen)
        last = first if i.last_seen is seen else _iso(i.last_seen)
        conf = "" if i.confidence is None else i.confidence
        value = i.value  # the formula guard of _cell, written out (one value per item)
        if value and (value[0] in _FORMULA_START or (value[0] in "+-" and i.kind != "phone")):
            value = "'" + value
        sources, related = cells["; ".join(i.sources)], cells["; ".join(i.related)]
        basis, network = cells["; ".join(i.basis)], cells[i.network]
        crime, actions = ";".join(i.crime_types), ";".join(i.actions)
        row = (f"{titles[i.role]},{i.role},{i.kind},{value},{crime},{first},{last},{i.corroboration},"
               f"{sources},{conf},{related},{actions},{basis},{network}\n")
        if row.count(",") == plain and not quoted(row, 0, len(row) - 1):
            write(row)
        else:
            w.writerow((titles[i.role], i.role, i.kind, value, crime, first, last, i.corroboration, sources, conf,
                        related, actions, basis, network))
    return out.getvalue()


def files(report: CompiledReport, *, report_id: str, generated_at: datetime, generated_by: str, centre: str,
          centre_identity: str, formats: Sequence[str]) -> dict[str, bytes]:
    """The report's files in these formats (html, pdf, stix, csv), as stored."""
    out: dict[str, bytes] = {}
    if "html" in formats or "pdf" in formats:  # the PDF is printed from the HTML
        html_text = html(report, report_id=report_id, generated_at=generated_at, generated_by=generated_by,
                         centre=centre)
        if "html" in formats:
            out["html"] = html_text.encode()
        if "pdf" in formats:
            out["pdf"] = pdf(html_text)
    if "stix" in formats:
        out["stix"] = stix_bundle(report, report_id=report_id, generated_at=generated_at, centre=centre,
                                  centre_identity=centre_identity).encode()
    if "csv" in formats:
        out["csv"] = csv_text(report).encode()
    return out


# Text files are stored zlib-compressed (level 1), the PDF as it is (it is compressed already). At 1M
# observables a run's files are 516 MB: writing them into SQLite (WAL frames, then the checkpoint)
# was 3-4 s of the storing process's CPU, compressing them at level 1 costs about 1.7 s (~300 MB/s,
# busy machine) and leaves 10x fewer bytes to write (STIX 8.5 MB -> 0.9 MB, CSV 2.4 -> 0.33 MB).
STORED_COMPRESSED = frozenset({"html", "stix", "csv"})


def stored_form(fmt: str, content: bytes) -> tuple[bytes, str]:
    """(bytes to store, encoding) of a file: see ``ReportFile.encoding``."""
    if fmt in STORED_COMPRESSED:
        return zlib.compress(content, 1), "zlib"
    return content, ""


def downloaded_form(stored: bytes, encoding: str) -> bytes:
    """The file as generated, from its stored bytes and encoding."""
    if encoding == "zlib":
        return zlib.decompress(stored)
    if encoding:
        raise ValueError(f"unknown report file encoding {encoding!r}")
    return stored
