"""What the application's lifespan does to the process."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from cyberfusion.app import create_app
from cyberfusion.config import get_settings


def test_startup_freezes_what_is_loaded_and_shutdown_undoes_it(engine):
    gc.unfreeze()
    app = create_app(get_settings(), engine=engine)
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert gc.get_freeze_count() > 0  # the loaded modules and the app: out of the collector's walks
    assert gc.get_freeze_count() == 0
