"""Shared fixtures: settings in a temporary data folder, and the fixture modules below."""

from __future__ import annotations

import pytest

from services.config import Settings, load_settings

pytest_plugins = [
    "tests.fixtures.videos",
    "tests.fixtures.database",
    "tests.fixtures.azurite",
    "tests.fixtures.vision_emulator",
    "tests.fixtures.openai_emulator",
    "tests.fixtures.apptest",
    "tests.fixtures.library",
    "tests.fixtures.app_server",
    "tests.fixtures.cli",
]


# What makes a test slow: a browser, an app server, processes (cli.py runs in `env`, workers it
# kills, checkov), or a PostgreSQL or Azurite server, through its fixtures however deep or through
# a parameter whose fixture asks for one at run time. `-m "not slow"` runs the rest (README).
SLOW_FIXTURES = frozenset({"browser", "app_servers", "start_server", "workers", "env", "checkov",
                           "azurite", "azurite_oauth", "postgres_server", "_postgres_admin"})
SLOW_PARAMS = frozenset({("database_url", "postgresql"), ("store", "azure"),
                         ("services", "azurite")})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ()))
                or any((name, value) in SLOW_PARAMS for name, value in params.items()
                       if isinstance(value, str))
                or item.get_closest_marker("e2e")):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _no_developer_env_file(monkeypatch):
    """No test reads a .env in the repository (a developer's Azure settings, say) by accident."""
    monkeypatch.setenv("FRAMEWISE_ENV_FILE", "")


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Settings on the embedded defaults, with a fresh data folder."""
    return load_settings({"FRAMEWISE_DATA_DIR": str(tmp_path / "data")}, dotenv=None)
