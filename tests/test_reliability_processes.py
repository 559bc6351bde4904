"""Nothing lost with real processes: `cli.py worker` killed, several at once, cancel, delete.

Workers are real `python cli.py worker` processes (tests/fixtures/workers.py) on one database,
SQLite and PostgreSQL, with the Azure analyser against the Vision emulator.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from azure.storage.blob import BlobServiceClient

from services.analysis import jobs, pipeline
from services.analysis.worker import Worker
from services.config import load_settings
from services.context import open_services
from services.library import delete_video
from services.models import Analysis, Detection, Frame, Status, Video, utcnow
from services.vision.base import FrameResult
from services.vision.ratelimit import share_rate
from tests.fixtures.azurite import unique_container
from tests.fixtures.cli import cli
from tests.fixtures.factories import add_video
from tests.fixtures.tools import wait_for
from tests.fixtures.upload_stall import UploadStall
from tests.fixtures.videos import make_video
from tests.fixtures.vision_emulator import LOADED_WINDOW_S
from tests.fixtures.workers import (
    RecordingEmulator,
    azure_env,
    queue_here,
    stored,
    thumb_hashes,
)
from tests.fixtures.workers import emulator as emulator  # noqa: F401  (fixture)
from tests.fixtures.workers import workers as workers  # noqa: F401  (fixture)


def queue(env, video: Path, *args: str) -> str:  # noqa: F811
    """Queue an Azure analysis as a user would: `cli.py analyze --no-wait`."""
    done = cli(env, "analyze", str(video), "--no-wait", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])["analysis_id"]

def test_live_processes_counts_unexpired_azure_leases_once_per_process(engine):
    """Test that the rate share counts each process with a live Azure lease exactly once."""
    video = add_video(engine)
    ids = [jobs.queue_analysis(engine, video_id=video.id, analyzer=kind, created_by="t",
                               sample_fps=1, max_frames=None, frames_planned=1).id
           for kind in ("azure", "azure", "azure", "local", "azure")]
    owners = ["h:1:worker:a", "h:1:worker:b", "h:2:worker:c", "h:3:worker:d", "h:4:worker:e"]
    for aid, owner in zip(ids, owners, strict=True):
        assert jobs.claim(engine, owner, 30, aid) == aid
    with engine.begin() as conn:  # the last one's worker died long ago
        conn.execute(sa.update(Analysis.__table__).where(Analysis.__table__.c.id == ids[-1])
                     .values(lease_expires_at=utcnow().replace(year=2000)))
    assert jobs.live_processes(engine, "azure") == 2  # pid 1 (twice) and pid 2
    assert share_rate(10, 1, 0.95) == pytest.approx(9.5)
    assert [share_rate(10, n, 0.95) for n in (2, 3, 4)] == [4, 3, 2]
    assert share_rate(2, 3, 0.95) == pytest.approx(1.9 / 3)


class RateProbe:
    """A remote analyser double noting the process counts it is told and each call."""

    name = "azure"
    concurrency = 1
    cache_identity = "probe"

    def __init__(self, events: list):
        self.events = events

    def share_rate(self, processes: int) -> None:
        self.events.append(("share", processes))

    def waiting(self):
        return None

    def from_raw(self, raw, frame):
        return FrameResult(raw_json=raw)

    def analyze(self, frame, stop=None):
        self.events.append(("analyze",))
        return FrameResult(transactions=1)


@pytest.mark.parametrize("others", [0, 1])
def test_a_run_takes_its_rate_share_and_lets_running_workers_adjust_first(
    env, database_url, engine, tmp_path, others  # noqa: F811
):
    """Test that an Azure run sets its share before any request, after a grace if others run."""
    wenv = {**env, "DATABASE_URL": database_url, "AZURE_VISION_ENDPOINT": "http://127.0.0.1:9",
            "AZURE_VISION_MAX_TPS": "10"}
    ids = queue_here(wenv, *[make_video(tmp_path / f"v{i}.mp4", seconds=1, fps=2)
                             for i in range(1 + others)], fps=2)
    for n, other in enumerate(ids[1:]):  # another process's live Azure run
        assert jobs.claim(engine, f"elsewhere:{n}:worker:x", 60, other) == other
    events: list = []

    def wait(seconds, stop=None):
        events.append(("wait", seconds))
        return False

    services = open_services(load_settings(wenv, dotenv=None))
    probe = RateProbe(events)
    worker = Worker(engine=services.engine, store=services.store, settings=services.settings,
                    remote_factory=lambda analysis: probe, wait=wait)
    assert worker.run_one(ids[0]) == (ids[0], Status.succeeded)
    first_call = events.index(("analyze",))
    if others:
        assert events[:first_call] == [("share", 2), ("wait", pipeline.JOIN_GRACE_S),
                                       ("share", 2)]
    else:
        assert events[:first_call] == [("share", 1)]


@pytest.fixture
def stall(emulator):  # noqa: F811
    """An UploadStall in front of the test's emulator."""
    link = UploadStall(emulator.endpoint)
    yield link
    link.close()


def test_a_killed_worker_is_taken_over_after_its_lease_and_nothing_is_sent_twice(
    env, database_url, engine, emulator, stall, workers, tmp_path  # noqa: F811
):
    """Test that after SIGKILLs the next worker resumes: a row per frame, stored ones not resent.

    Each kill lands mid-upload (a request held with part of its body sent, through `stall`): the
    emulator must take the cut-short body for a dropped connection, not a request to answer.
    """
    wenv = azure_env(env, database_url, emulator, FRAMEWISE_LEASE_SECONDS=3,
                     AZURE_VISION_MAX_TPS=8, AZURE_VISION_ENDPOINT=stall.endpoint)
    video = make_video(tmp_path / "clip.mp4", seconds=4, fps=10, size=(320, 240))
    aid = queue(wenv, video, "--fps", "10")
    first = workers.start(wenv, "first")
    wait_for(lambda: len(stored(engine, aid)) >= 6, "the first frames", timeout=60)
    standby = workers.start(wenv, "standby")  # polls while the first one holds the lease
    kills: list[tuple[float, set[int]]] = []
    row = None
    for victim in (first, standby):
        if victim is standby:  # let the standby store some frames of its own first
            done_before = len(kills[0][1])
            wait_for(lambda n=done_before: len(stored(engine, aid)) >= n + 6, "more frames")
        held_by = jobs.get_analysis(engine, aid).lease_owner
        stall.arm()
        wait_for(stall.holding.is_set, "an upload held mid-body")
        workers.kill(victim)
        kills.append((time.monotonic(), set(stored(engine, aid))))
        wait_for(stall.dropped.is_set, "the emulator to close the cut-short upload")
        assert emulator.cut_short == len(kills) and emulator.violations == [], (
            "the kill did not land mid-upload, or its half-sent body was answered",
            emulator.cut_short, emulator.violations)
        row = jobs.get_analysis(engine, aid)
        assert row.status == Status.running and row.lease_owner == held_by
        expiry = row.lease_expires_at
        if victim is standby:
            workers.start(wenv, "restarted")  # the same worker command, started again
        # Nobody takes the analysis over while the dead worker's lease runs.
        wait_for(lambda h=held_by: (a := jobs.get_analysis(engine, aid)).lease_owner != h
                 or a.status != Status.running, "a takeover", timeout=60)
        assert utcnow() >= expiry
    final = wait_for(lambda: (a := jobs.get_analysis(engine, aid)).status != Status.running
                     and a, "the end of the analysis", timeout=90)
    assert final.status == Status.succeeded, workers.logs()
    assert sorted(stored(engine, aid)) == list(range(40)) and final.frames_done == 40
    assert len(kills[0][1]) < 40 and len(kills[1][1]) < 40, "killed after the end: no test"

    hashes = thumb_hashes(wenv, aid, range(40))
    assert len(set(hashes.values())) == 40  # distinct pictures, so a hash names one frame
    sent = Counter(h for _, h in emulator.images)
    assert set(hashes.values()) <= set(sent)
    # Frames stored before the first kill went out exactly once; none stored before a kill
    # was sent again after it (frames in flight at a kill may go twice).
    assert all(sent[hashes[i]] == 1 for i in kills[0][1])
    for killed_at, before in kills:
        again = [h for at, h in emulator.images if at > killed_at and h in
                 {hashes[i] for i in before}]
        assert again == []
    assert max(sent.values()) <= 3 and emulator.violations == []
    owners = [owner for owner, ran in workers.runs() if ran == aid]
    assert len(owners) == 3 and len(set(owners)) == 3  # first, standby, restarted standby


def test_three_workers_share_the_queue_and_the_rate_limit(
    env, database_url, engine, workers, tmp_path  # noqa: F811
):
    """Test that 3 workers run 3 analyses once each, never together, under one shared rate.

    One worker runs the first analysis alone at the whole rate until the others get theirs:
    they must not send before it has cut its share at its next heartbeat.
    """
    max_tps = 10
    emu = RecordingEmulator(rate_limit=max_tps, rate_window_s=LOADED_WINDOW_S,
                            response_delay_s=0.05).start()
    try:
        wenv = azure_env(env, database_url, emu, AZURE_VISION_MAX_TPS=max_tps,
                         FRAMEWISE_LEASE_SECONDS=30)
        frames = [40, 15, 15]
        videos = [make_video(tmp_path / f"v{i}.mp4", seconds=n / 5, fps=10,
                             size=(320 + 16 * i, 240)) for i, n in enumerate(frames)]
        for n in range(3):
            workers.start(wenv, f"w{n}")
        wait_for(lambda: all("waiting for analyses" in p.log.read_text() for p in workers.procs),
                 "three idle workers")
        ids = queue_here(wenv, videos[0])
        wait_for(lambda: len(stored(engine, ids[0])) >= 3, "the first analysis under way")
        ids += queue_here(wenv, *videos[1:])
        owners: dict[str, set[str]] = {aid: set() for aid in ids}
        most_at_once = 0

        def all_done() -> bool:
            nonlocal most_at_once
            with engine.connect() as conn:
                rows = conn.execute(sa.select(Analysis.id, Analysis.status,
                                              Analysis.lease_owner)).all()
            for aid, _, owner in rows:
                if owner:
                    owners[aid].add(owner)
            most_at_once = max(most_at_once, sum(s == Status.running for _, s, _ in rows))
            return all(s == Status.succeeded for _, s, _ in rows)

        wait_for(all_done, "three succeeded analyses", timeout=120, every=0.1)
    finally:
        emu.stop()
    assert all(len(o) == 1 for o in owners.values()), owners  # one worker per analysis, ever
    runs = workers.runs()
    assert sorted(aid for _, aid in runs) == sorted(ids), workers.logs()  # each started once
    assert most_at_once >= 2, "the workers never overlapped: the rate share went untested"
    for aid, n in zip(ids, frames, strict=True):
        assert sorted(stored(engine, aid)) == list(range(n))
    assert emu.requests == sum(frames) and emu.throttled == 0 and emu.statuses[429] == 0
    assert emu.max_in_window(LOADED_WINDOW_S) <= max_tps


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the queue is tested on both
def test_cancel_stops_a_running_worker_which_goes_on_to_the_next_analysis(
    env, database_url, engine, emulator, workers, tmp_path  # noqa: F811
):
    """Test that `cli.py cancel` ends a worker's running analysis, keeping its frames."""
    # One analysis at a time, so the next one starts only once the cancel has ended the first.
    wenv = azure_env(env, database_url, emulator, AZURE_VISION_MAX_TPS=5,
                     FRAMEWISE_WORKER_ANALYSES=1)
    long_id, next_id = queue_here(wenv, make_video(tmp_path / "long.mp4", seconds=16, fps=5),
                                  make_video(tmp_path / "next.mp4", seconds=1, fps=5))
    workers.start(wenv, "worker")
    wait_for(lambda: len(stored(engine, long_id)) >= 3, "the first frames")
    done = cli(wenv, "cancel", long_id)
    assert done.returncode == 0, done.stderr
    wait_for(lambda: any(aid == next_id for _, aid in workers.runs()), "the next analysis",
             timeout=30, every=0.02)  # only once the cancel has ended the first run
    kept = stored(engine, long_id)
    wait_for(lambda: jobs.get_analysis(engine, next_id).status == Status.succeeded,
             "the next analysis to succeed")
    row = jobs.get_analysis(engine, long_id)
    assert row.status == Status.cancelled and 3 <= len(kept) < 80
    assert row.frames_done == len(kept)  # the progress shown is what is stored
    assert sorted(stored(engine, long_id)) == sorted(kept)  # nothing written after it stopped
    assert sorted(kept) == list(range(len(kept)))


def test_deleting_videos_removes_every_row_and_blob_even_mid_analysis(
    env, database_url, engine, emulator, workers, azurite, tmp_path  # noqa: F811
):
    """Test that deleting a finished and a running video leaves no row and no blob in Azurite."""
    container = unique_container()
    wenv = azure_env(env, database_url, emulator, AZURE_VISION_MAX_TPS=8,
                     AZURE_STORAGE_CONNECTION_STRING=azurite.connection_string,
                     AZURE_STORAGE_CONTAINER=container)
    done_id, busy_id = queue_here(wenv, make_video(tmp_path / "a.mp4", seconds=2, fps=5),
                                  make_video(tmp_path / "b.mp4", seconds=8, fps=5))
    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)\
        .get_container_client(container)
    names = lambda: list(blobs.list_blob_names())  # noqa: E731
    worker = workers.start(wenv, "worker")
    # One worker runs both at once (the fair queue): the short one ends first.
    wait_for(lambda: jobs.get_analysis(engine, done_id).status == Status.succeeded
             and len(stored(engine, busy_id)) >= 4, "the first analysis done, the second under way")
    assert jobs.get_analysis(engine, busy_id).status == Status.running
    kinds = {n.split("/")[0] + ("/raw" if "/raw/" in n else "") for n in names()}
    assert kinds >= {"videos", "analyses", "analyses/raw", "cache"}  # what must all go

    services = open_services(load_settings(wenv, dotenv=None))
    for aid in (done_id, busy_id):
        delete_video(services.engine, services.store, jobs.get_analysis(engine, aid).video_id)
        if aid == done_id:
            assert not any(done_id in n for n in names())
    wait_for(lambda: any(e["event"] == "ended" and e["analysis_id"] == busy_id
                         for e in workers.events()),
             "the worker to stop the deleted analysis", timeout=30)
    assert names() == [], names()
    with engine.connect() as conn:
        for table in (Video, Analysis, Frame, Detection):
            assert conn.scalar(sa.select(sa.func.count()).select_from(table)) == 0
    assert worker.poll() is None  # the worker lives on, waiting for work
