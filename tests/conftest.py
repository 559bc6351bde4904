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


@pytest.fixture(autouse=True)
def _no_developer_env_file(monkeypatch):
    """No test reads a .env in the repository (a developer's Azure settings, say) by accident."""
    monkeypatch.setenv("FRAMEWISE_ENV_FILE", "")


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Settings on the embedded defaults, with a fresh data folder."""
    return load_settings({"FRAMEWISE_DATA_DIR": str(tmp_path / "data")}, dotenv=None)
