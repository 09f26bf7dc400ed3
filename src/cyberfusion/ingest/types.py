"""What every parser yields: STIX 2.1 objects with where they came from and handling hints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ParsedItem:
    """One STIX 2.1 object ready for the pipeline.

    ``obj`` is a JSON-compatible STIX 2.1 dict. ``location`` names where in the
    source it came from ("object 3", "line 12", "event 1 attribute 5") so that
    errors found later can still point at the input. ``handling`` carries
    per-object handling hints taken from the source format (e.g. a MISP
    ``tlp:red`` tag or distribution level): keys ``tlp`` ("clear", "green",
    "amber", "amber+strict", "red") and ``distribution`` (MISP 0-5).
    """

    obj: dict[str, Any]
    location: str
    handling: dict[str, Any] = field(default_factory=dict)
    # The normalised (kind, value) observables of obj, once the pipeline has worked them out.
    observables: list[tuple[str, str]] | None = None
