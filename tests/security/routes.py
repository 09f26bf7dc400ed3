"""Every route the application serves, read from the app itself (so a new endpoint is covered
the day it is added), with its path parameters filled in."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI

_PARAM = re.compile(r"\{([a-z_]+)(?::[a-z]+)?\}")
# Values for path parameters: well-formed, so a route cannot answer 404/422 before it authenticates.
SAMPLE = {"stix_id": "indicator--2f5e0e7c-8f5c-4f6e-9f1a-3c4b5d6e7f80", "root": "cfc", "cid": "tlp-green",
          "rest": "x", "prefix": "0123456789ab", "name": "x", "action": "x"}


def _walk(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    for route in routes:
        if hasattr(route, "original_router"):  # an included router (FastAPI resolves these lazily)
            yield from _walk(route.original_router.routes, prefix + route.include_context.prefix)
        elif getattr(route, "path", None) is not None:
            for method in sorted(getattr(route, "methods", None) or ["GET"]):
                if method != "HEAD":
                    yield method, prefix + route.path, route


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every route, once each."""
    return sorted({(m, p) for m, p, _ in _walk(app.router.routes)})


def concrete(path: str) -> str:
    return _PARAM.sub(lambda m: SAMPLE.get(m.group(1), "1"), path)
