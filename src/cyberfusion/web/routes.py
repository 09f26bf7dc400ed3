"""The web workspace's one router (registered in app.ROUTERS): every page module's routes.

Area modules built over another package's services (fusion, tasking, products,
trends, AI) are included when that package imports; a broken or missing package
leaves its pages out (logged) instead of taking the whole workspace down.
"""

from __future__ import annotations

import importlib
import logging

from fastapi import APIRouter

log = logging.getLogger("cyberfusion.web")

CORE = ("pages_auth", "pages_home", "pages_search", "pages_objects", "pages_contribute", "pages_admin",
        "pages_audit")
AREAS = ("pages_fusion", "pages_tasking", "pages_products", "pages_ai")

router = APIRouter(include_in_schema=False)
AVAILABLE: list[str] = []
MISSING: dict[str, str] = {}

for _name in CORE:
    router.include_router(importlib.import_module(f"cyberfusion.web.{_name}").router)
    AVAILABLE.append(_name)
for _name in AREAS:
    try:
        _module = importlib.import_module(f"cyberfusion.web.{_name}")
    except ImportError as exc:
        MISSING[_name] = str(exc)
        log.warning("web pages %s left out: %s", _name, exc)
        continue
    router.include_router(_module.router)
    AVAILABLE.append(_name)
