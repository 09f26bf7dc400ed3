"""Shared pieces of the hostile-input tests: the parser contract and input strategies.

The contract every parser keeps: any input gives a result or ``InvalidInput`` whose
problems each say where (file, location or field) and why. Any other exception is a bug.
The same check runs under hypothesis (tests/*/test_*_properties.py) and atheris (fuzz/).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import strategies as st

from cyberfusion.errors import InvalidInput

T = TypeVar("T")


def result_or_located(run: Callable[[], T]) -> T | InvalidInput:
    """run()'s result, or the InvalidInput it raised after checking that it is located."""
    try:
        return run()
    except InvalidInput as exc:
        assert exc.problems, "InvalidInput without problems"
        for p in exc.problems:
            assert p.reason.strip(), f"a problem without a reason: {p!r}"
            assert p.file or p.location or p.field, f"a problem without a location: {p!r}"
        return exc


# --- strategies -------------------------------------------------------------------------------

# JSON scalars, biased to the awkward ones: huge and negative numbers, empty and odd strings.
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "2.1", "2.0", "bundle", "indicator", "ipv4-addr",
                     "2026-01-31T12:00:00Z", "2026-02-30T00:00:00Z", "1.2.3.4", "evil.example",
                     "[ipv4-addr:value = '1.2.3.4']", "indicator--" + "0" * 36,
                     "indicator--2f5e0e7c-8f5c-4f6e-9f1a-3c4b5d6e7f80"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=6)),
    max_leaves=25,
)


def json_bytes(values: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return values.map(lambda v: json.dumps(v).encode())


# Lines of text mixing indicators, defanged forms, separators and garbage.
_LINE_PARTS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["1.2.3.4", "hxxp://evil[.]example/a?b=c", "evil[.]example", "a@b[.]example",
                     "d41d8cd98f00b204e9800998ecf8427e", "2001:db8::1", "10.0.0.0/8", "CVE-2024-3094",
                     "AS64500", "+44 20 7946 0958", "DE89370400440532013000", "#", ",", "\t", ";", '"',
                     "type", "value", "ipv4-addr", "\r", "\ufeff", "\u202e", "xn--", "ftp://", "0x7f000001"]),
)
text_lines = st.lists(st.lists(_LINE_PARTS, max_size=6).map("".join), max_size=12).map("\n".join)
