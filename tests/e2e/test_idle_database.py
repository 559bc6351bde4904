"""An idle server holds no database session, so Azure SQL serverless can auto-pause; a visit wakes
it. A real `streamlit run app.py` on PostgreSQL, watched from PostgreSQL's own pg_stat_activity
(every connection of the server carries the test schema as its application_name)."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from services.analysis.jobs import get_analysis
from services.models import Status
from tests.e2e import ui
from tests.fixtures.tools import wait_for
from tests.fixtures.videos import make_video

pytestmark = pytest.mark.e2e
IDLE_S = 2.0


def _sessions(observer: sa.Engine, name: str) -> int:
    with observer.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity "
                                    "WHERE application_name = :name"), {"name": name}).scalar_one()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_idle_server_holds_no_session_and_a_visit_wakes_it(start_server, database_url,
                                                              postgres_server, page, tmp_path):
    """Test that after FRAMEWISE_DB_IDLE_SECONDS the server has no session for a while (its
    worker claims nothing: a queued analysis stays queued), and that a page visit wakes it to
    run the analysis, after which it goes quiet again."""
    schema = sa.engine.make_url(database_url).query["application_name"]
    observer = sa.create_engine(postgres_server, poolclass=sa.NullPool)
    server = start_server(env={"DATABASE_URL": database_url,
                               "FRAMEWISE_DB_IDLE_SECONDS": f"{IDLE_S:g}",
                               "FRAMEWISE_DB_IDLE_RECHECK_SECONDS": "0"})
    try:
        server.services.engine.dispose()  # the test's own engine holds nothing either
        wait_for(lambda: _sessions(observer, schema) == 0, "the server to close its sessions",
                 timeout=60)
        video = make_video(tmp_path / "queued.mp4", seconds=3)
        analysis_id = server.cli("analyze", str(video), "--no-wait")["analysis_id"]  # "elsewhere"
        server.services.engine.dispose()
        wait_for(lambda: _sessions(observer, schema) == 0, "the CLI's sessions to end")
        # Three idle periods: a polling worker would have claimed it, a pool would show a session.
        watched_until = time.monotonic() + 3 * IDLE_S
        while time.monotonic() < watched_until:
            assert _sessions(observer, schema) == 0
        analysis = get_analysis(server.services.engine, analysis_id)
        server.services.engine.dispose()
        assert analysis is not None and analysis.status == Status.queued

        ui.goto(page, server.url)  # a visit: the page run wakes the worker
        expect(page.get_by_test_id("stSidebarNav")).to_be_visible()
        wait_for(lambda: (a := get_analysis(server.services.engine, analysis_id)) is not None
                 and a.status == Status.succeeded, "the woken worker to run it", timeout=90)
        server.services.engine.dispose()
        page.goto("about:blank")  # nobody on a page any more
        wait_for(lambda: _sessions(observer, schema) == 0, "the server to go quiet again",
                 timeout=60)
    finally:
        observer.dispose()
