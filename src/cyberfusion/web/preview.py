"""The dry-run listing: the input line by line (CSV, text) or object by object (STIX), each
problem placed next to the line or object it names (``Problem.location``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cyberfusion.errors import Problem

_LINE = re.compile(r"^line (\d+)\b")
_OBJECT = re.compile(r"^object (\d+)\b")
MAX_ROWS = 300
MAX_PARSE_BYTES = 20 * 1024 * 1024


def _rows_of(path: Path, fmt: str) -> tuple[str, list[str]]:
    if fmt in ("csv", "text"):
        with path.open(encoding="utf-8", errors="replace") as f:
            return "line", [line.rstrip("\r\n") for line in f]
    if fmt == "stix" and path.stat().st_size <= MAX_PARSE_BYTES:
        try:
            doc = json.loads(path.read_text(encoding="utf-8", errors="replace"))
        except ValueError:
            return "object", []
        objects = doc.get("objects", []) if isinstance(doc, dict) and doc.get("type") == "bundle" else [doc]
        rows = []
        for obj in objects if isinstance(objects, list) else []:
            if isinstance(obj, dict):
                name = obj.get("name") or obj.get("value") or obj.get("pattern") or ""
                rows.append(f"{obj.get('type', '?')}  {obj.get('id', '(no id)')}  {str(name)[:120]}")
            else:
                rows.append(repr(obj)[:120])
        return "object", rows
    return "item", []


def listing(path: Path, fmt: str, problems: list[Problem], *, max_rows: int = MAX_ROWS) -> dict[str, Any]:
    unit, texts = _rows_of(path, fmt)
    first = 1 if unit == "line" else 0
    placed: dict[int, list[Problem]] = {}
    unplaced: list[Problem] = []
    pattern = _LINE if unit == "line" else _OBJECT
    for p in problems:
        m = pattern.match(p.location or "")
        number = int(m.group(1)) if m else None
        if number is not None and first <= number < first + len(texts):
            placed.setdefault(number, []).append(p)
        else:
            unplaced.append(p)
    numbers = list(range(first, first + len(texts)))
    truncated = len(numbers) > max_rows
    if truncated:
        keep = set(numbers[:50])
        for n in placed:
            keep.update({n - 1, n, n + 1})
        numbers = [n for n in numbers if n in keep][:max_rows]
    rows = [{"n": n, "text": texts[n - first], "problems": placed.get(n, [])} for n in numbers]
    return {"unit": unit, "rows": rows, "unplaced": unplaced, "total": len(texts), "truncated": truncated}
