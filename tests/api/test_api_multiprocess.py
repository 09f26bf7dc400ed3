"""`cfc serve --workers 2`: API processes are stateless. Tokens, TAXII cursors (encrypted with the
shared secret, generated once into the data dir by whichever process starts first) and /api/v1
cursors work whichever process answers; every request opens a new connection."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from sharing.helpers import contribute, indicator

from cyberfusion.sharing.handling import HandlingSpec

TAXII = "application/taxii+json;version=2.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_server_processes_share_sessions_and_cursors(world, engine, tmp_path):
    objects = [indicator("domain-name", f"p{i}.multi.example") for i in range(23)]
    ids = sorted(o["id"] for o in objects)
    contribute(world, tmp_path, "vendor", objects, HandlingSpec(tlp="green"))
    token = world.token("analyst")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "CFC_SECRET_KEY"}
    env |= {"CFC_DATABASE_URL": engine.url.render_as_string(hide_password=False), "CFC_LOG_LEVEL": "warning",
            "CFC_DATA_DIR": str(tmp_path / "served"), "CFC_INPROCESS_WORKER": "false"}
    cfc = Path(sys.executable).with_name("cfc")
    proc = subprocess.Popen([str(cfc), "serve", "--port", str(port), "--workers", "2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "server exited"
            try:
                if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)

        def get(path: str, **kw):  # type: ignore[no-untyped-def]
            headers = {"Connection": "close", **kw.pop("headers", {})}
            return requests.get(f"{base}{path}", headers=headers, timeout=10, **kw)

        # TAXII: 23 objects in pages of 2, every page on a new connection
        seen: list[str] = []
        params = {"limit": "2", "match[type]": "indicator"}
        auth = ("analyst@example.org", token)
        while True:
            r = get("/taxii2/cfc/collections/all/objects/", params=params, auth=auth, headers={"Accept": TAXII})
            assert r.status_code == 200, r.text
            body = r.json()
            seen += [o["id"] for o in body.get("objects", [])]
            if not body.get("more"):
                break
            params = {**params, "next": body["next"]}
        assert sorted(seen) == ids and len(seen) == len(set(seen))
        # /api/v1 search pages, also across processes
        found: list[str] = []
        params = {"q": "multi.example", "purpose": "investigation", "limit": "5"}
        while True:
            r = get("/api/v1/search", params=params, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            body = r.json()
            found += [i["id"] for i in body["items"]]
            if not body.get("next"):
                break
            params = {**params, "cursor": body["next"]}
        assert sorted(found) == ids
        key = (tmp_path / "served" / "secret.key").read_text()
        assert len(key) > 40 and not [p for p in (tmp_path / "served").iterdir() if p.name.startswith(".secret-")]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
