"""Every pooled database connection busy for the pool's whole timeout: 503 with Retry-After
(API problem+json, TAXII error resource), not an unexpected 500; the next request works."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cyberfusion.api.problems import POOL_EXHAUSTED
from cyberfusion.app import create_app
from cyberfusion.db import make_engine


@pytest.fixture
def one_connection(engine):  # type: ignore[no-untyped-def]
    if engine.dialect.name != "sqlite":
        pytest.skip("the same pool on both backends: once is enough")
    small = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0,
                        pool_timeout=0.2)
    yield small
    small.dispose()


def test_no_free_connection_is_a_503_and_the_next_request_works(one_connection, world):
    h = {"Authorization": f"Bearer {world.token('admin')}"}
    with TestClient(create_app(engine=one_connection)) as client:
        assert client.get("/api/v1/organisations", headers=h).status_code == 200
        taken = one_connection.connect()  # the pool's only connection
        try:
            r = client.get("/api/v1/organisations", headers=h)
            t = client.get("/taxii2/", headers=h)
        finally:
            taken.close()
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["retry-after"] == "5"
        assert r.json()["detail"] == POOL_EXHAUSTED
        assert t.status_code == 503, t.text
        assert t.headers["retry-after"] == "5"
        assert t.json()["description"] == POOL_EXHAUSTED
        assert client.get("/api/v1/organisations", headers=h).status_code == 200
