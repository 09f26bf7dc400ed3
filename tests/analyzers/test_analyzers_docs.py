"""The how-to in docs/analyzers.md: under 50 lines, and it works."""

from __future__ import annotations

import json
import re
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cyberfusion.analyzers import registry
from cyberfusion.analyzers.base import Observable, relationship, subject

DOC = Path(__file__).resolve().parents[2] / "docs" / "analyzers.md"


def _example():
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)[1]
    module = types.ModuleType("acme_pdns")
    exec(compile(code, "acme_pdns.py", "exec"), module.__dict__)
    return code, module.AcmePassiveDNS


class PDNS(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = json.dumps({"records": [{"ip": "192.0.2.10"}, {"ip": "2001:db8::1"}, {"ip": "junk"},
                                       {"ip": "192.0.2.10"}]}).encode() if self.path == "/v1/lookup/evil.example.com" \
            else b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_partner_howto_is_short_and_runs():
    code, cls = _example()
    assert len(code.strip().splitlines()) < 50
    registry.check(cls)
    assert (cls.egress, cls.owner, cls.accepts) == (True, "Acme Security", frozenset({"domain-name"}))
    server = ThreadingHTTPServer(("127.0.0.1", 0), PDNS)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/lookup/{{value}}"
        r = cls(url=url).run(Observable("domain-name", "evil.example.com"))
    finally:
        server.shutdown()
        server.server_close()
    ref = subject("domain-name", "evil.example.com")["id"]
    v4, v6 = subject("ipv4-addr", "192.0.2.10"), subject("ipv6-addr", "2001:db8::1")
    assert r.summary == "evil.example.com resolved to 2 address(es)"
    assert r.data == {"ips": ["192.0.2.10", "2001:db8::1"]}
    assert r.objects == [v4, relationship(ref, "resolves-to", v4["id"]), v6, relationship(ref, "resolves-to", v6["id"])]
