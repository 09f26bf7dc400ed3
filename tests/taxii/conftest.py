"""TAXII test fixtures: the real app served by uvicorn on 127.0.0.1, medallion as a subprocess,
and helpers to authenticate and to seed objects with chosen date_added times."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from taxii.support import free_port


@pytest.fixture
def live_server(engine, world) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The application (all routers) served by uvicorn in a thread; yields its base URL."""
    import uvicorn

    from cyberfusion.app import create_app
    from cyberfusion.config import get_settings
    app = create_app(get_settings(), engine=engine)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture
def medallion(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start the OASIS reference server with a data file; returns its base URL. Stopped by PID."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(data: dict[str, Any], *, users: dict[str, str] | None = None, max_page_size: int = 100) -> str:
        n = len(procs)
        data_file = tmp_path / f"medallion-data-{n}.json"
        data_file.write_text(json.dumps(data))
        config = {"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                              "filename": str(data_file)},
                  "users": users or {"user": "pass"}, "taxii": {"max_page_size": max_page_size}}
        config_file = tmp_path / f"medallion-{n}.json"
        config_file.write_text(json.dumps(config))
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-c", "from medallion.scripts.run import main; main()",
                                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "ERROR",
                                 str(config_file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "medallion exited"
            try:
                requests.get(url + "/taxii2/", timeout=1)
                return url
            except requests.RequestException:
                assert time.monotonic() < deadline, "medallion did not start"
                time.sleep(0.1)

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
