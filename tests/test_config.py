"""Settings: defaults, CFC_ environment, and one clear line for a bad value."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cyberfusion.config import load_settings
from cyberfusion.errors import ConfigurationError


def test_defaults_put_sqlite_in_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("CFC_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CFC_DATABASE_URL", raising=False)
    s = load_settings()
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'cyberfusion.db'}"
    assert (s.host, s.port, s.k_threshold) == ("127.0.0.1", 8000, 3)
    key = s.effective_secret_key()
    assert len(key) >= 32 and s.effective_secret_key() == key


@pytest.mark.parametrize("name,value,message", [
    ("CFC_PORT", "eighty", "invalid setting CFC_PORT: Input should be a valid integer, unable to parse string as an integer"),
    ("CFC_DATABASE_URL", "mysql://x", "invalid setting CFC_DATABASE_URL: Value error, must start with sqlite:// or postgresql+psycopg://"),
    ("CFC_K_THRESHOLD", "0", "invalid setting CFC_K_THRESHOLD: Input should be greater than or equal to 1"),
])
def test_invalid_setting_is_one_line(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as exc:
        load_settings()
    assert exc.value.detail == message


def test_cli_stops_with_one_line_on_bad_settings(tmp_path):
    env = {"CFC_PORT": "eighty", "CFC_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-c", "from cyberfusion.cli import main; main()", "org", "list"],
                       capture_output=True, text=True, env=env | {"PYTHONPATH": ":".join(sys.path)})
    assert r.returncode == 2
    assert r.stderr == ("cfc: invalid setting CFC_PORT: Input should be a valid integer, "
                        "unable to parse string as an integer\n")
