"""Database outage: 503 problem+json with Retry-After while PostgreSQL is unreachable, recovery
without a restart when it returns, and nothing half-written (issue 11, "Faults").

The outage is real: the API talks to PostgreSQL through a TCP relay on 127.0.0.1 that the
test cuts (every connection dropped, new ones refused) and restores.
"""

from __future__ import annotations

import socket
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from cyberfusion.db import make_engine
from cyberfusion.partners.models import Organisation


class Relay:
    """A TCP relay to host:port that can be cut and restored."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()  # the server is "gone": connections are refused at once
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        self.up = False
        with self.lock:
            for s in self.open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.open.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def relayed(engine):  # type: ignore[no-untyped-def]
    if engine.dialect.name != "postgresql":
        pytest.skip("an embedded SQLite database cannot become unreachable apart from the process using it")
    url = make_url(engine.url.render_as_string(hide_password=False))
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    through = make_engine(url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False),
                          connect_args={"connect_timeout": 3})
    yield relay, through
    through.dispose()
    relay.close()


def test_outage_gives_503_with_retry_after_then_recovers_by_itself(relayed, world):
    from fastapi.testclient import TestClient

    from cyberfusion.app import create_app
    from cyberfusion.config import get_settings

    relay, through = relayed
    h = {"Authorization": f"Bearer {world.token('admin')}"}
    with world.factory() as s:
        orgs_before = s.scalar(select(func.count()).select_from(Organisation))
    with TestClient(create_app(get_settings(), engine=through), raise_server_exceptions=False) as client:
        assert client.get("/api/v1/me", headers=h).status_code == 200

        relay.cut()
        for path in ("/api/v1/me", "/api/v1/organisations"):
            r = client.get(path, headers=h)
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert int(r.headers["retry-after"]) > 0
            assert r.json()["status"] == 503 and "traceback" not in r.text.lower()
        r = client.post("/api/v1/organisations", json={"name": "Outage Unit", "kind": "law_enforcement",
                                                       "country": "FR"}, headers=h)
        assert r.status_code == 503, r.text
        r = client.get("/readyz")
        assert (r.status_code, r.json()["status"]) == (503, "unavailable")

        relay.restore()  # no restart: the pool's pre-ping replaces the dead connections
        assert client.get("/readyz").status_code == 200
        assert client.get("/api/v1/me", headers=h).status_code == 200
        r = client.post("/api/v1/organisations", json={"name": "After Unit", "kind": "law_enforcement",
                                                       "country": "FR"}, headers=h)
        assert r.status_code in (200, 201), r.text
    with world.factory() as s:  # the request made during the outage left nothing
        names = set(s.scalars(select(Organisation.name)))
        assert s.scalar(select(func.count()).select_from(Organisation)) == orgs_before + 1
    assert "After Unit" in names and "Outage Unit" not in names
