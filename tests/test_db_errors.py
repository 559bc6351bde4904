"""A database error in the CLI or on a page is one line naming what failed: PostgreSQL refusing
a row (a constraint) or a statement (permissions), never SQL, parameters or row data."""

from __future__ import annotations

import json
import uuid

import pytest
import streamlit as st
from sqlalchemy.engine import make_url

from services.analysis import jobs
from tests.fixtures.apptest import SETTINGS_ENV, app, switch_to
from tests.fixtures.cli import cli
from tests.fixtures.factories import add_video
from tests.fixtures.videos import make_video
from tests.fixtures.vision_emulator import VisionEmulator

postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
MARK = "SECRET-ROW-DATA-7f3a"
# What a message must never show: SQL, the bound parameters, the row's values.
LEAKS = (MARK, "INSERT", "SELECT", "[SQL", "parameters", "detection (", "video.", "DETAIL")




def _one_safe_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, text
    assert not any(leak in text for leak in LEAKS), text
    return lines[0]


@postgres_only
def test_a_row_postgresql_refuses_fails_the_analysis_with_one_safe_line(
    env, database_url, engine, tmp_path
):
    """Test that an Azure analysis whose OCR row PostgreSQL refuses (a CHECK constraint) fails
    with one line naming the frame and the kind of error, in the CLI and in the stored reason."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE detection ADD CONSTRAINT refuse_marked "
                             f"CHECK (label IS NULL OR label NOT LIKE '%%{MARK}%%')")
    with VisionEmulator(read_line=f"{MARK} on a sign") as emulator:  # a recognisable OCR line
        run_env = {**env, "DATABASE_URL": database_url, "AZURE_VISION_ENDPOINT":
                   emulator.endpoint, "AZURE_VISION_KEY": emulator.key}
        video = make_video(tmp_path / "clip.mp4", seconds=1)
        done = cli(run_env, "analyze", str(video), "--analyzer", "azure", "--features", "read")
    assert done.returncode == 1, done.stderr
    line = _one_safe_line(done.stderr)
    assert line == ("error: database error while storing frame 0: the database refused the "
                    "data (a constraint) (CheckViolation)")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "failed" and MARK not in done.stdout
    row = jobs.get_analysis(engine, summary["analysis_id"])
    assert row.error_message == line.removeprefix("error: ")


@pytest.fixture
def no_select_url(database_url, engine):
    """A login on the same tables allowed to read only alembic_version (a role short of grants)."""
    role = f"fw_limited_{uuid.uuid4().hex[:8]}"
    url = make_url(database_url)
    schema = dict(url.query)["options"].removeprefix("-csearch_path=")
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        conn.exec_driver_sql(f'GRANT SELECT ON alembic_version TO "{role}"')
    add_video(engine, original_filename=f"{MARK}.mp4", uploaded_by=MARK)
    yield url.set(username=role).render_as_string(hide_password=False)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
        conn.exec_driver_sql(f'DROP ROLE "{role}"')


@postgres_only
def test_a_statement_postgresql_refuses_is_one_line_in_the_cli(env, no_select_url):
    """Test that `cli.py list` refused by PostgreSQL (permission denied) prints one safe line."""
    done = cli({**env, "DATABASE_URL": no_select_url}, "list")
    assert done.returncode == 1, done.stderr
    assert _one_safe_line(done.stderr) == (
        "error: database error while running `list`: the database refused the statement "
        "(permissions, or a schema older than this release: run `python cli.py db upgrade`) "
        "(InsufficientPrivilege)")


@postgres_only
def test_a_statement_postgresql_refuses_is_one_line_on_the_page(
    no_select_url, tmp_path, monkeypatch
):
    """Test that the Analyses page refused by PostgreSQL shows one line and no traceback."""
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FRAMEWISE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FRAMEWISE_EMBEDDED_WORKER", "0")
    monkeypatch.setenv("DATABASE_URL", no_select_url)
    st.cache_resource.clear()
    st.cache_data.clear()
    at = app().run()
    switch_to(at, "analyses")
    at.run()
    assert not at.exception, at.exception
    [error] = [str(e.value).replace("\\", "") for e in at.error]
    assert error.startswith("database error while showing the Analyses page: the database "
                            "refused the statement"), error
    assert "(InsufficientPrivilege)" in error and not any(leak in error for leak in LEAKS)
    st.cache_resource.clear()
