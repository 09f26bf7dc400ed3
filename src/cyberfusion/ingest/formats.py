"""Which parser reads which format (no database code: the ingest worker process imports this)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from cyberfusion.errors import InvalidInput, Problem
from cyberfusion.ingest.types import ParsedItem

FORMATS = ("stix", "misp", "misp-feed", "csv", "text")


def parse(fmt: str, path: Path, *, file_name: str, errors: list[Problem] | None,
          mapping: dict[str, str] | None = None, default_time: datetime | None = None) -> Iterator[ParsedItem]:
    if fmt == "stix":
        from cyberfusion.ingest.stix import iter_stix
        return iter_stix(path, file_name=file_name, errors=errors)
    if fmt == "misp":
        from cyberfusion.ingest.misp import iter_misp
        return iter_misp(path, file_name=file_name, errors=errors)
    if fmt == "misp-feed":
        from cyberfusion.ingest.misp import iter_misp_feed
        return iter_misp_feed(path, errors=errors)
    if fmt == "csv":
        from cyberfusion.ingest.tabular import iter_csv
        return iter_csv(path, file_name=file_name, mapping=mapping, errors=errors, default_time=default_time)
    if fmt == "text":
        from cyberfusion.ingest.text import iter_text
        return iter_text(path, file_name=file_name, errors=errors, default_time=default_time)
    raise InvalidInput(f"unknown format {fmt!r}; one of: {', '.join(FORMATS)}", field="format")
