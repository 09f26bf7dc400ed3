"""The FastAPI application: REST API under /api/v1, health probes, OpenAPI at /openapi.json."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import Engine, text

from cyberfusion import __version__
from cyberfusion.api import problems
from cyberfusion.api.guards import RequestGuard, SecurityHeaders
from cyberfusion.config import Settings, get_settings
from cyberfusion.db import make_engine, make_sessionmaker, migration_state, require_current_schema, server_pool
from cyberfusion.errors import CyberfusionError
from cyberfusion.groupcommit import GroupCommit
from cyberfusion.kit import gcutil


# Every module with a `router` served by the app, one per line.
# Routes are matched in this order, one by one (FastAPI): the busiest paths first (lookups,
# TAXII polling, search and contributions). No two routers' paths overlap, so the order changes
# nothing else.
ROUTERS = [
    "cyberfusion.fusion.api",
    "cyberfusion.taxii.api",
    "cyberfusion.intel.api",
    "cyberfusion.partners.api",
    "cyberfusion.audit.api",
    "cyberfusion.analyzers.api",
    "cyberfusion.tasking.api",
    "cyberfusion.products.api",
    "cyberfusion.trends.api",
    "cyberfusion.ai.api",
    "cyberfusion.web.routes",
]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Background jobs in this process when configured (the SQLite default: see jobs/inprocess.py);
    with SQLite, the write-ahead log checkpointed off the request path (ops/checkpoint.py)."""
    settings: Settings = app.state.settings
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.server_threads
    in_process = settings.inprocess_worker
    if in_process is None:
        in_process = app.state.engine.dialect.name == "sqlite"
    worker = None
    if in_process:
        from cyberfusion.jobs.inprocess import InProcessWorker
        worker = InProcessWorker(app.state.sessionmaker)
        worker.start()
    app.state.worker = worker
    checkpointer = None
    url = app.state.engine.url
    if (url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
            and settings.sqlite_checkpoint_seconds > 0):
        from cyberfusion.ops.checkpoint import WalCheckpointer
        checkpointer = WalCheckpointer(app.state.engine, interval=settings.sqlite_checkpoint_seconds)
        checkpointer.start()
    app.state.checkpointer = checkpointer
    # What is loaded by now (modules, routes, the app) lives as long as the server: kept out of the
    # cyclic collector's sight, a full collection walks only what requests allocate. TAXII paging
    # at 100k, 1,000-object pages: a full collection 124-137 -> 9 ms of CPU, about 1.2 ms a page
    # (2026-11-27). Undone at shutdown, so an app started and stopped in a longer-lived process
    # (tests) leaves nothing uncollectable behind.
    gcutil.freeze_long_lived()
    gcutil.trace_from_environment()  # CFC_GC_TRACE=<file>: benchmarks/load.py --trace-gc
    warm_up = None
    if settings.server_warm_up:
        from cyberfusion.ops import warmup
        warm_up = warmup.WarmUp(warmup.steps(jobs=worker is not None))
        warm_up.start()
    app.state.warm_up = warm_up
    try:
        yield
    finally:
        if warm_up is not None:
            warm_up.wait(10)  # a stop right after start: its last freeze not after the unfreeze below
        gcutil.unfreeze_long_lived()
        if worker is not None:
            worker.stop()
        if checkpointer is not None:
            checkpointer.stop()
        if app.state.lookup_writer is not None:
            app.state.lookup_writer.close()


def create_app(settings: Settings | None = None, *, engine: Engine | None = None,
               check_schema: bool = True) -> FastAPI:
    settings = settings or get_settings()
    if engine is None:
        url = settings.effective_database_url
        engine = make_engine(url, **server_pool(url, threads=settings.server_threads, size=settings.db_pool_size))
    if check_schema:
        require_current_schema(engine)
    app = FastAPI(title="cyberfusion", version=__version__, lifespan=_lifespan,
                  description="Cyber fusion centre: shared intelligence under enforced handling rules.")
    app.add_middleware(RequestGuard, max_bytes=settings.max_request_mb * 1024 * 1024)
    app.add_middleware(SecurityHeaders)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    # SQLite: lookups' rows written by one writer per process, a batch of them per write turn and
    # commit (groupcommit.py, docs/fusion.md). PostgreSQL has no process write lock: each lookup
    # writes in its request's own transaction, as before.
    app.state.lookup_writer = (GroupCommit(engine, label="fusion.lookup (group)")
                               if engine.dialect.name == "sqlite" else None)
    problems.install(app)

    # Probes first: routes are matched in order, and load balancers ask often. No I/O: on the loop.
    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> Any:
        warm_up = getattr(app.state, "warm_up", None)
        if warm_up is not None and not warm_up.done:
            return JSONResponse({"status": "starting", "detail": "loading what the first requests need"},
                                status_code=503, headers={"Retry-After": "1"})
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            current, head = migration_state(engine)
        except CyberfusionError as exc:
            return JSONResponse({"status": "unavailable", "detail": exc.detail}, status_code=503,
                                headers={"Retry-After": "5"})
        except Exception as exc:  # noqa: BLE001 - any driver error means "not ready"
            return JSONResponse({"status": "unavailable", "detail": str(exc).splitlines()[0]},
                                status_code=503, headers={"Retry-After": "5"})
        if current != head:
            return JSONResponse({"status": "unavailable", "detail": f"schema at {current}, code needs {head}"},
                                status_code=503)
        return {"status": "ready", "schema": current}

    for module in ROUTERS:
        app.include_router(importlib.import_module(module).router)

    if not any(getattr(r, "path", None) == "/" for r in app.routes):
        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/docs")

    return app
