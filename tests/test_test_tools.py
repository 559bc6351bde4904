"""The test helpers' own rule: under CI a missing tool fails the test, on a laptop it skips."""

from __future__ import annotations

import pytest

from tests.fixtures.tools import missing


def test_a_missing_tool_fails_under_ci(monkeypatch):
    """Test that with CI=true, missing() fails the test rather than skipping it."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL"):
        missing("PostgreSQL")


def test_a_missing_tool_skips_outside_ci(monkeypatch):
    """Test that without CI, missing() skips the test with the tool's name."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Azurite"):
        missing("Azurite")
