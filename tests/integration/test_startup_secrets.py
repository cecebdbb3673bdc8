"""A refused production start-up names what is wrong and prints no secret, whichever entry point fails."""

import os
import subprocess
import sys

import pytest

from app.core.db.migrations import PROJECT_ROOT
from tests.integration.live_server import free_port

pytestmark = pytest.mark.integration

SECRET = "Zq8v3LwT1nR6yKpE2sJ9uXcA5mHdG7fB4oVtN0iWQe"  # strong: refused only for what surrounds it
DATABASE_PASSWORD = "db-pass-Xy7Kq2"
DATABASE_URL = f"postgresql://shop:{DATABASE_PASSWORD}@127.0.0.1:1/shop"

ENTRY_POINTS = {
    "uvicorn": ["-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", "{port}"],
    "cli": ["-m", "app", "keys", "list"],
    "alembic": ["-m", "alembic", "upgrade", "head"],
}
BAD_PRODUCTION_SETTINGS = {
    "open API": ({"AUTH_REQUIRED": "false", "API_KEY_SECRET": SECRET}, "AUTH_REQUIRED"),
    "weak secret": (
        {"AUTH_REQUIRED": "true", "API_KEY_SECRET": "short-" + DATABASE_PASSWORD},
        "API_KEY_SECRET",
    ),
}


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
@pytest.mark.parametrize("case", BAD_PRODUCTION_SETTINGS)
def test_a_refused_production_start_prints_no_secret_and_no_password(entry_point: str, case: str) -> None:
    settings, named = BAD_PRODUCTION_SETTINGS[case]
    arguments = [argument.format(port=free_port()) for argument in ENTRY_POINTS[entry_point]]
    result = subprocess.run(
        [sys.executable, *arguments],
        cwd=PROJECT_ROOT,
        env={**os.environ, "APP_ENV": "production", "DATABASE_URL": DATABASE_URL, **settings},
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert named in output, "the refused setting is named"
    assert settings["API_KEY_SECRET"] not in output
    assert DATABASE_PASSWORD not in output
    assert "Traceback" not in output
