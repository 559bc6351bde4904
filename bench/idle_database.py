"""14. Idle database: what an idle `streamlit run app.py` does to its database in a minute.

Azure SQL serverless auto-pauses only after its whole delay with no session and no CPU. A server
on a throwaway PostgreSQL (its own database, nobody on the app) is watched from PostgreSQL's own
statistics for 60 s after a warm-up: sessions in pg_stat_activity (sampled every 0.5 s), and the
sessions opened and the committed plus rolled-back transactions in pg_stat_database (autovacuum
off: its transactions are PostgreSQL's own, which Azure SQL does not have). Once with
FRAMEWISE_DB_IDLE_SECONDS=0 (never quiet: the server as it was before), once with 10 s. Then an
analysis queued by `cli.py analyze --no-wait` is left queued, and a Chromium visit wakes the
quiet server: the time from the visit to the analysis finished.
"""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

from bench.common import Row, log, scratch
from tests.fixtures.app_server import AppServer
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from tests.fixtures.database import private_postgres
from tests.fixtures.tools import wait_for
from tests.fixtures.videos import make_video

SECTION = "14. Idle database"
WARM_UP_S = 15.0
WATCH_S = 60.0
QUIET_AFTER_S = 10


def _stats(observer: sa.Engine, db: str) -> tuple[int, int, int]:
    """(sessions now, sessions opened so far, transactions so far) of database db, read from
    another database."""
    with observer.connect() as conn:
        conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        now = conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db"),
                           {"db": db}).scalar_one()
        opened, xacts = conn.execute(sa.text(
            "SELECT sessions, xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = :db"), {"db": db}).one()
    return int(now), int(opened or 0), int(xacts or 0)


def _watch(observer: sa.Engine, db: str) -> tuple[int, float, int, int]:
    """Over WATCH_S: the most sessions seen, their mean, sessions opened, transactions made."""
    _, opened, xacts = _stats(observer, db)
    seen: list[int] = []
    ends = time.monotonic() + WATCH_S
    while time.monotonic() < ends:
        seen.append(_stats(observer, db)[0])
        time.sleep(0.5)
    # A backend reports its counts at most 10 s late (PostgreSQL 15's idle flush): wait for
    # them, with no new ones possible when no session exists.
    time.sleep(11.0)
    _, opened_after, xacts_after = _stats(observer, db)
    return max(seen), sum(seen) / len(seen), opened_after - opened, xacts_after - xacts


def _server(home: Path, url: str, idle_s: int) -> AppServer:
    return AppServer(home=home, env={"DATABASE_URL": url, "FRAMEWISE_DB_IDLE_SECONDS": str(idle_s),
                                     "FRAMEWISE_DB_IDLE_RECHECK_SECONDS": "0"}).start()


def _wake(server: AppServer, video: Path) -> float:
    """Queue with the CLI, visit the page in Chromium: seconds from the visit to succeeded."""
    from playwright.sync_api import sync_playwright

    from services.analysis.jobs import get_analysis
    from services.models import Status

    analysis_id = server.cli("analyze", str(video), "--no-wait")["analysis_id"]
    engine = server.services.engine
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport=VIEWPORT).new_page()
            visited = time.monotonic()
            page.goto(server.url)
            wait_for(lambda: (a := get_analysis(engine, analysis_id)) is not None
                     and a.status == Status.succeeded, "the woken worker", timeout=120,
                     every=0.1)
            return time.monotonic() - visited
        finally:
            engine.dispose()
            browser.close()


def rows() -> list[Row]:
    out: list[Row] = []
    with private_postgres() as base, scratch("idle-") as tmp:
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        with admin.connect() as conn:  # its transactions are the server's, not the app's
            conn.execute(sa.text("ALTER SYSTEM SET autovacuum = off"))
            conn.execute(sa.text("SELECT pg_reload_conf()"))
        observer = sa.create_engine(base, poolclass=sa.NullPool)
        video = make_video(Path(tmp) / "queued.mp4", seconds=3)
        for idle_s in (0, QUIET_AFTER_S):
            db = f"framewise_idle_{idle_s}"
            with admin.connect() as conn:
                conn.execute(sa.text(f"CREATE DATABASE {db}"))
            url = sa.engine.make_url(base).set(database=db).render_as_string(False)
            server = _server(Path(tmp) / db, url, idle_s)
            try:
                log(f"14. idle database: FRAMEWISE_DB_IDLE_SECONDS={idle_s}, {WARM_UP_S:g} s "
                    f"warm-up, {WATCH_S:g} s watched")
                time.sleep(WARM_UP_S)
                most, mean, opened, xacts = _watch(observer, db)
                label = "never quiet (0)" if idle_s == 0 else f"{idle_s} s"
                figure = (f"idle server, FRAMEWISE_DB_IDLE_SECONDS {label}: sessions held, "
                          "sessions opened, transactions in a minute")
                measured = f"{most} held, {opened} opened, {xacts} transactions"
                notes = (f"sessions in pg_stat_activity every 0.5 s: most {most}, mean "
                         f"{mean:.2f}; opened and transactions from pg_stat_database; "
                         f"PostgreSQL 15 (autovacuum off), nobody on the app, {WARM_UP_S:g} s "
                         "after start")
                if idle_s == 0:
                    out.append(Row(SECTION, figure, measured, "information", None, None, notes))
                    continue
                out.append(Row(SECTION, figure, measured, "0, 0, 0", None,
                               most == 0 and opened == 0 and xacts == 0, notes))
                woke = _wake(server, video)
                out.append(Row(SECTION, "quiet server: a page visit to a queued analysis "
                               "finished", f"{woke:.1f} s", "information", None, None,
                               "3 s clip, 1 fps, local analyser; queued by cli.py analyze "
                               "--no-wait, then Chromium opens the app"))
            finally:
                server.stop()
        observer.dispose()
        admin.dispose()
    return out
