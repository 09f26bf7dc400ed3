"""The job worker inside the server process: the embedded (SQLite) default needs no `cfc worker`.

It runs the same ``run_batch`` as ``cfc worker`` — same claims, leases, retries and dead
letters — in one daemon thread, and stops with the server. With PostgreSQL it is off by
default: production runs dedicated ``cfc worker`` processes (docs/operations.md).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from cyberfusion.jobs.service import run_batch, worker_name

log = logging.getLogger("cyberfusion.jobs")


class InProcessWorker:
    def __init__(self, factory: sessionmaker[Session], *, idle_sleep: float = 1.0) -> None:
        import cyberfusion.jobs.handlers  # noqa: F401 - registers the job kinds

        self.factory, self.idle_sleep = factory, idle_sleep
        self.name = f"{worker_name()}:server"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.jobs_run = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="cfc-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                claimed = run_batch(self.factory, worker=self.name)
            except Exception as exc:  # noqa: BLE001 - e.g. the database is briefly unavailable: try again
                log.warning("in-process worker: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                claimed = 0
            self.jobs_run += claimed
            if claimed == 0:
                self._stop.wait(self.idle_sleep)
