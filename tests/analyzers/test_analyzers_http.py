"""The HTTP adapter against a small partner service on 127.0.0.1, well- and misbehaving."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from analyzers.analyzer_support import add_ip, session_of
from sqlalchemy import select

from cyberfusion.analyzers import registry, service
from cyberfusion.analyzers.base import AnalyzerError, Observable
from cyberfusion.analyzers.http import HttpAnalyzer
from cyberfusion.audit.models import AuditEntry
from cyberfusion.config import get_settings
from cyberfusion.sharing.handling import HandlingSpec


class PartnerService(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, str | None]]] = []  # (path, body, auth header)

    def log_message(self, *args):  # keep test output clean
        pass

    def _answer(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.seen.append((self.path, body, self.headers.get("Authorization")))
        if self.path == "/ok":
            value = json.loads(body)["value"]
            self._answer(200, json.dumps({"verdict": {"text": f"{value} is a known scanner", "score": 80},
                                          "facts": {"first_seen": "2024-01-02", "reports": 17}}).encode())
        elif self.path == "/slow":
            time.sleep(1.0)
            self._answer(200, b"{}")
        elif self.path == "/error":
            self._answer(500, b"internal trouble")
        elif self.path == "/not-json":
            self._answer(200, b"<html>maintenance</html>", "text/html")
        elif self.path == "/no-summary":
            self._answer(200, json.dumps({"facts": {}}).encode())
        else:
            self._answer(404, b"no such endpoint")

    def do_GET(self) -> None:
        self.seen.append((self.path, "", self.headers.get("Authorization")))
        self._answer(200, json.dumps({"verdict": {"text": "by path", "score": 10}}).encode())


class PartnerServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # "/slow" answers after the client's timeout has closed the connection: that broken pipe
        # is expected, and its traceback (printed from the server's thread, a second later) would
        # land in whatever test this worker runs next and corrupt its captured stderr.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def partner_server():
    server = PartnerServer(("127.0.0.1", 0), PartnerService)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def partner(partner_server):
    PartnerService.seen.clear()
    return partner_server


class Reputation(HttpAnalyzer):
    name = "test-reputation"
    version = "0.9"
    owner = "Vendor Labs"
    accepts = frozenset({"ipv4-addr"})
    timeout = 0.3
    mapping = {"summary": "verdict.text", "confidence": "verdict.score", "data": "facts"}


def call(url: str, value: str = "203.0.113.7"):
    return Reputation(url=url).run(Observable("ipv4-addr", value))


def test_well_behaved_service_is_mapped(partner, monkeypatch):
    monkeypatch.setenv("CFC_ANALYZER_AUTH", json.dumps({"test-reputation": "Bearer s3cret"}))
    get_settings.cache_clear()
    r = call(partner + "/ok")
    assert (r.summary, r.confidence, r.data, r.objects) == ("203.0.113.7 is a known scanner", 80,
                                                            {"first_seen": "2024-01-02", "reports": 17}, [])
    assert PartnerService.seen == [("/ok", '{"kind":"ipv4-addr","value":"203.0.113.7"}', "Bearer s3cret")]


def test_value_in_the_url_is_encoded_and_sent_by_get(partner):
    class ByPath(Reputation):
        method = "GET"
    r = ByPath(url=partner + "/lookup/{kind}/{value}").run(Observable("ipv4-addr", "203.0.113.0/24"))
    assert (r.summary, r.confidence) == ("by path", 10)
    assert PartnerService.seen == [("/lookup/ipv4-addr/203.0.113.0%2F24", "", None)]


@pytest.mark.parametrize("path, message", [
    ("/slow", "test-reputation did not answer within 0.3 s"),
    ("/error", "test-reputation answered HTTP 500: internal trouble"),
    ("/not-json", "test-reputation answered with something that is not JSON (text/html)"),
    ("/no-summary", "test-reputation: the answer has no 'verdict.text'"),
    ("/missing", "test-reputation answered HTTP 404: no such endpoint"),
])
def test_misbehaving_service_gives_a_clear_error(partner, path, message):
    with pytest.raises(AnalyzerError) as err:
        call(partner + path)
    assert str(err.value) == message


def test_unreachable_service():
    with pytest.raises(AnalyzerError, match="test-reputation could not be reached: ConnectError"):
        call("http://127.0.0.1:9/ok")


def test_runs_record_the_failure_and_the_success(world, tmp_path, partner):
    registry.register(Reputation)
    try:
        add_ip(world, tmp_path, "bank", "203.0.113.7", HandlingSpec(tlp="amber"))
        with session_of(world) as s:
            service.configure(s, name="test-reputation", url=partner + "/error")
        with session_of(world) as s:
            [failed] = service.analyze_value(s, viewer=world.viewer("le_gb"), purpose="investigation",
                                             value="203.0.113.7", analyzer="test-reputation")
        with session_of(world) as s:
            service.configure(s, name="test-reputation", url=partner + "/slow")
        with session_of(world) as s:
            [slow] = service.analyze_value(s, viewer=world.viewer("le_gb"), purpose="investigation",
                                           value="203.0.113.7", analyzer="test-reputation")
        with session_of(world) as s:
            service.configure(s, name="test-reputation", url=partner + "/ok")
        with session_of(world) as s:
            [done] = service.analyze_value(s, viewer=world.viewer("le_gb"), purpose="investigation",
                                           value="203.0.113.7", analyzer="test-reputation")
        with session_of(world) as s:
            page = service.list_runs(s, viewer=world.viewer("le_gb"), purpose="investigation",
                                     analyzer="test-reputation")
            audited = [e.detail["status"] for e in s.scalars(select(AuditEntry).where(
                AuditEntry.action == "analyzer.run").order_by(AuditEntry.id))]
    finally:
        registry.unregister("test-reputation")
    assert (failed["status"], failed["error"]) == ("failed", "test-reputation answered HTTP 500: internal trouble")
    assert (slow["status"], slow["error"]) == ("failed", "test-reputation did not answer within 0.3 s")
    assert slow["duration_ms"] >= 300  # ended by the timeout (the message says so), not by an answer
    assert (done["status"], done["summary"], done["confidence"]) == ("done", "203.0.113.7 is a known scanner", 80)
    assert [r["status"] for r in page["items"]] == ["done", "failed", "failed"]
    assert audited == ["failed", "failed", "done"]
