"""Plain indicator lists → STIX 2.1 indicators: one indicator per line.

Blank lines and lines starting with ``#`` are skipped, and so is a trailing
comment after whitespace (``1.2.3.4   # C2``; a ``#`` without whitespace before
it stays, as in ``http://x.test/#frag``). Each line is refanged
(``hxxp``, ``[.]``, ``[at]`` ...), its kind detected, and it becomes the same
indicator, with the same deterministic id, as a CSV row would (see
:mod:`cyberfusion.ingest.tabular`). Problems name the file, ``line N`` (1-based)
and field ``value``; with ``errors`` they are appended there and the line is
skipped, without it good lines are still yielded and one :class:`InvalidInput`
listing every bad line is raised at the end.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import BinaryIO, TextIO

from cyberfusion.errors import InvalidInput, Problem
from cyberfusion.ingest.tabular import RowError, build_indicator, detect_or_explain, read_lines
from cyberfusion.ingest.types import ParsedItem
from cyberfusion.kit.refang import refang

__all__ = ["iter_text"]

_TRAILING_COMMENT = re.compile(r"\s+#.*\Z", re.S)


def iter_text(source: str | os.PathLike[str] | BinaryIO | TextIO, *, file_name: str,
              default_time: datetime | None = None,
              errors: list[Problem] | None = None) -> Iterator[ParsedItem]:
    """Yield one STIX indicator per indicator line of a plain list."""
    now = default_time or datetime.now(UTC)
    problems: list[Problem] = []
    seen: set[str] = set()
    try:
        for number, line in enumerate(read_lines(source), 1):
            token = _TRAILING_COMMENT.sub("", line.strip())
            if not token or token.startswith("#"):
                continue
            try:
                kind, value = detect_or_explain(refang(token), "value")
            except RowError as exc:
                problem = Problem(exc.reason, file=file_name, location=f"line {number}",
                                  field=exc.field)
                (problems if errors is None else errors).append(problem)
                continue
            obj = build_indicator(kind, value, created=now)
            if obj["id"] not in seen:
                seen.add(obj["id"])
                yield ParsedItem(obj, f"line {number}")
    except UnicodeDecodeError as exc:
        raise InvalidInput(Problem(f"not UTF-8 text: {exc.reason}", file=file_name)) from exc
    if problems:
        raise InvalidInput(problems)
