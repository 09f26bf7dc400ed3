"""Helpers shared by the TAXII tests (fixtures are in conftest.py)."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path
from typing import Any

TAXII = "application/taxii+json;version=2.1"
STIX = "application/stix+json;version=2.1"
MEDALLION_DATA = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "taxii21" / "medallion-default-data.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def basic(world: Any, key: str) -> dict[str, str]:
    """Headers for a world member: HTTP Basic with e-mail and a fresh API token."""
    raw = f"{key}@example.org:{world.token(key)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode(), "Accept": TAXII}


def medallion_default_data() -> dict[str, Any]:
    return json.loads(MEDALLION_DATA.read_text())


def seed(world: Any, owner: str, objects: list[dict[str, Any]], *, spec: Any = None, now: Any = None,
         tmp_path: Path) -> Any:
    """Contribute objects as `owner` through the ingest pipeline (optionally stamping date_added)."""
    from cyberfusion.sharing.handling import HandlingSpec
    from sharing.helpers import contribute
    kw = {"now": now} if now is not None else {}
    return contribute(world, tmp_path, owner, objects, spec or HandlingSpec(tlp="green"), **kw)
