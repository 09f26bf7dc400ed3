"""API contract: schemathesis drives every /api/v1 operation of /openapi.json over HTTP against a
served demo centre. No answer may be a 5xx, and every answer must match its documented schema
(issue 11, "Hostile and bad input"). Examples per operation: CFC_CONTRACT_EXAMPLES (default 8)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

EXAMPLES = int(os.environ.get("CFC_CONTRACT_EXAMPLES", "8"))
# Members whose calls the contract test makes: a platform admin reaches every admin operation.
AS_MEMBER = "admin@cfc.example"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    import uvicorn

    from cyberfusion.app import create_app
    from cyberfusion.auth import tokens
    from cyberfusion.config import Settings
    from cyberfusion.db import make_engine, make_sessionmaker, transaction, upgrade
    from cyberfusion.demo import load_demo
    from cyberfusion.partners import repository

    data: Path = tmp_path_factory.mktemp("contract")
    settings_ = Settings(data_dir=data, database_url=f"sqlite:///{data / 'contract.db'}", inprocess_worker=False,
                         secret_key="contract-test-secret-key-0123456789abcdef")
    engine = make_engine(settings_.effective_database_url)
    upgrade(engine)
    load_demo(engine, indicators=200, quiet=True)
    with transaction(make_sessionmaker(engine)) as s:
        token = tokens.issue(s, member=repository.member_by_email(s, AS_MEMBER), name="contract").token
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings_, engine=engine), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "token": token}
    server.should_exit = True
    thread.join(15)
    engine.dispose()


def test_no_5xx_and_every_answer_matches_its_schema(served):  # type: ignore[no-untyped-def]
    # One test over every operation (schemathesis' pytest plug-in does not load under this pytest).
    from hypothesis import given

    api = schemathesis.openapi.from_url(f"{served['url']}/openapi.json").include(path_regex=r"^/api/v1/")
    headers = {"Authorization": f"Bearer {served['token']}"}
    failures: dict[str, str] = {}
    operations = 0
    for result in api.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def call(case):  # type: ignore[no-untyped-def]
            case.call_and_validate(base_url=served["url"], headers=headers,
                                   checks=[not_a_server_error, response_schema_conformance], timeout=30)

        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - schemathesis' FailureGroup; every operation is tried
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures[operation.label] = str(exc)[:1500]
    assert operations > 50, f"only {operations} operations in /openapi.json"
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
