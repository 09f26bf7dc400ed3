"""Input limits that keep a hostile file or request from hanging or exhausting a worker.

Documented in docs/operations.md ("Input limits"). The streaming parsers read files of
any size in constant memory; what they bound is the shape of one record: how deeply a
JSON value nests (stdlib ``json`` and ``copy.deepcopy`` recurse and fail past about a
thousand levels), and how long a STIX pattern is (the OASIS pattern parser is an ANTLR
parser whose cost grows with the pattern).
"""

from __future__ import annotations

import json
from typing import Any

from cyberfusion.errors import InvalidInput

# Deepest JSON nesting accepted in one STIX object, MISP event or request body. Real STIX
# (extensions, embedded observed-data objects) and MISP events (Object → Attribute →
# Galaxy → GalaxyCluster → meta) stay below 15.
MAX_NESTING = 100
# Longest STIX pattern accepted (characters). The longest in the OASIS examples and the
# ATT&CK corpus are a few hundred; a MISP object turned into one pattern stays far below.
MAX_PATTERN_LENGTH = 10_000


def nesting_depth(value: Any, limit: int = MAX_NESTING) -> int:
    """How deeply value nests (a scalar is 0), counting at most to limit + 1 (iterative: no recursion)."""
    # Level by level, one list per level: every import checks every object, and a stack of
    # (value, depth) pairs filled through a generator cost twice as much (0.05 s per 20,000 indicators).
    level = [value] if type(value) in (dict, list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return depth
        below = []
        for current in level:
            for child in (current.values() if type(current) is dict else current):
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
    return depth


def too_deep(value: Any, limit: int = MAX_NESTING) -> bool:
    return nesting_depth(value, limit) > limit


def nesting_problem(limit: int = MAX_NESTING) -> str:
    return f"JSON nested more than {limit} levels deep"


NUL_PROBLEM = "text contains a NUL character (U+0000), which cannot be stored"


def contains_nul(value: Any) -> bool:
    """True when any string in value (keys included) holds U+0000 (iterative: no recursion)."""
    stack = [value]
    while stack:
        current = stack.pop()
        if type(current) is str:
            if "\x00" in current:
                return True
        elif type(current) is dict:
            stack.extend(current.keys())
            stack.extend(current.values())
        elif type(current) is list:
            stack.extend(current)
    return False


def loads(data: bytes | str, *, field: str = "body", file: str | None = None) -> Any:
    """json.loads for untrusted input: InvalidInput (with field/file) for bad JSON or deep nesting."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise InvalidInput(nesting_problem(), field=field, file=file) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"not valid JSON: {exc}", field=field, file=file) from None
    if too_deep(value):
        raise InvalidInput(nesting_problem(), field=field, file=file)
    return value


__all__ = ["MAX_NESTING", "MAX_PATTERN_LENGTH", "NUL_PROBLEM", "contains_nul", "loads", "nesting_depth", "nesting_problem",
           "too_deep"]
