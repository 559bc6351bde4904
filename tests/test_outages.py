"""A throttled, flaky Vision service, with real processes: waits not failures, refused frames,
retry, cancel within 2 s, SIGTERM hand-back and the fair queue.

`cli.py analyze`, `retry`, `cancel` and `worker` run as a user runs them, against the Vision
emulator (tests/fixtures/vision_emulator.py) scripted with stretches of faults. Durations are
short real ones set through the settings (a give-up of 2 s, stretches of 3-4 s); the full-length
outages (40 s of 429s, 20 s of 503s) run once, in the benchmark (bench/outages.py).
"""

from __future__ import annotations

import csv
import json
import re
import signal
import time
from collections import Counter

import pytest

from services.analysis import jobs
from services.models import Status
from tests.fixtures.cli import cli
from tests.fixtures.tools import wait_for
from tests.fixtures.videos import make_video
from tests.fixtures.vision_emulator import LOADED_WINDOW_S
from tests.fixtures.vision_faults import Fault
from tests.fixtures.workers import (
    azure_env,
    queue_here,
    stored,
    thumb_hashes,
)
from tests.fixtures.workers import emulator as emulator  # noqa: F401  (fixture)
from tests.fixtures.workers import workers as workers  # noqa: F401  (fixture)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
FRAMES = 30  # a 6 s testsrc clip at 5 fps: every frame distinct, so the cache answers none


def clip(tmp_path, name="clip.mp4", seconds=6.0, size=(320, 240)):
    return make_video(tmp_path / name, seconds=seconds, fps=10, size=size)


def analyze(wenv, *args):
    """`cli.py analyze|retry ...` run to its end: (process, the JSON summary)."""
    done = cli(wenv, *args)
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-3000:]
    return done, json.loads(lines[-1])


@pytest.mark.parametrize("fault, words", [
    (Fault.throttle(retry_after="1"), "Azure AI Vision is throttling: waiting 1 s"),
    (Fault(503), "Azure AI Vision is unavailable: retrying"),
])
def test_a_stretch_of_throttling_or_outage_is_waited_out(
    env, database_url, emulator, tmp_path, fault, words  # noqa: F811
):
    """Test that 4 s of 429s (Retry-After) or 503s cost ~1 request a second and lose nothing."""
    wenv = azure_env(env, database_url, emulator, AZURE_VISION_MAX_TPS=20)
    stretch = emulator.stretch(fault, seconds=4.0, after=8)
    done, summary = analyze(wenv, "analyze", str(clip(tmp_path)), "--fps", "5")
    assert done.returncode == 0 and summary["status"] == "succeeded", done.stderr[-3000:]
    assert summary["frames"] == FRAMES and summary["frames_failed"] == 0
    assert summary["transactions"] == FRAMES and emulator.statuses[200] == FRAMES
    assert stretch.started is not None
    # The requests in flight when it began (4 at most) met it too; after them, probes only.
    during = emulator.arrivals(stretch.started, stretch.ended)
    probes = emulator.arrivals(stretch.started + 0.5, stretch.ended)
    assert len(during) <= 4 + 5 and len(probes) <= 4, [round(s.at - stretch.started, 2)
                                                        for s in during]
    assert re.search(rf"{re.escape(words)}; \d+ of {FRAMES} frames analysed", done.stderr)
    assert emulator.violations == []


def test_an_outage_past_the_give_up_time_fails_saying_so_and_retry_finishes_it(
    env, database_url, engine, emulator, tmp_path  # noqa: F811
):
    """Test that no answer for the give-up time fails with how far it got; retry resends none
    of the stored frames and ends the analysis."""
    wenv = azure_env(env, database_url, emulator, AZURE_VISION_MAX_TPS=20,
                     AZURE_VISION_GIVE_UP_SECONDS=2)
    outage = emulator.stretch(Fault(503), seconds=3600, after=8)
    done, summary = analyze(wenv, "analyze", str(clip(tmp_path)), "--fps", "5")
    assert done.returncode == 1 and summary["status"] == "failed"
    aid = summary["analysis_id"]
    kept = stored(engine, aid)
    message = summary["error"]
    assert "gave no successful answer for 2 s" in message and "last: 503" in message
    assert f"{len(kept)} of {FRAMES} frames analysed" in message and 0 < len(kept) < FRAMES

    emulator.stretches.remove(outage)  # the service is back
    before = emulator.requests
    sent_before = len(emulator.images)
    done, summary = analyze(wenv, "retry", aid)
    assert done.returncode == 0 and summary["status"] == "succeeded", done.stderr[-3000:]
    assert summary["frames"] == FRAMES and sorted(stored(engine, aid)) == list(range(FRAMES))
    hashes = thumb_hashes(wenv, aid, range(FRAMES))
    resent = {h for _, h in emulator.images[sent_before:]}
    assert not resent & {hashes[i] for i in kept}  # no stored frame went to the service again
    assert emulator.requests - before <= FRAMES - len(kept)


def test_a_refused_frame_is_recorded_and_the_rest_analysed(
    env, database_url, emulator, tmp_path  # noqa: F811
):
    """Test that a 400 InvalidImageFormat for one frame leaves it not analysed with the reason,
    in the JSON line and frames.csv, while the analysis succeeds."""
    wenv = azure_env(env, database_url, emulator)
    emulator.script(Fault(200), Fault(200), Fault.refused("InvalidImageFormat"))
    done, summary = analyze(wenv, "analyze", str(clip(tmp_path, seconds=2)), "--fps", "5")
    assert done.returncode == 0 and summary["status"] == "succeeded", done.stderr[-3000:]
    assert (summary["frames"], summary["frames_failed"], summary["transactions"]) == (10, 1, 9)
    out = tmp_path / "frames.csv"
    exported = cli(wenv, "export", summary["analysis_id"], "--frames", str(out))
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    errors = [r["error"] for r in rows if r["error"]]
    assert len(rows) == 10 and len(errors) == 1
    assert errors[0].startswith("Azure AI Vision refused the frame (400 InvalidImageFormat")


@pytest.mark.parametrize("retrying", [False, True], ids=["answering", "retrying"])
def test_nothing_is_sent_two_seconds_after_a_cancel(
    env, database_url, engine, emulator, workers, tmp_path, retrying  # noqa: F811
):
    """Test that after `cli.py cancel` returns, no request (first try or retry) leaves after 2 s.

    No observation window: the test waits until the worker is back to the threads it had while
    idle (the run's watcher and its request threads have all ended, so nothing in it can send
    any more), then reads the emulator's arrival times.
    """
    wenv = azure_env(env, database_url, emulator, AZURE_VISION_MAX_TPS=8)
    worker = workers.start(wenv, "worker")
    wait_for(lambda: "waiting for analyses" in worker.log.read_text(), "the worker")
    idle = workers.threads(worker)
    (aid,) = queue_here(wenv, clip(tmp_path, seconds=20))
    wait_for(lambda: len(stored(engine, aid)) >= 5, "the first frames", timeout=60)
    assert workers.threads(worker) > idle, "no run threads seen: the test proves nothing"
    if retrying:  # a stretch of 503s: every thread is in retries when the cancel comes
        emulator.stretch(Fault(503), seconds=600)
        wait_for(lambda: emulator.statuses[503] >= 6, "requests in retry", timeout=30)
    # The cancel goes out right after a request came in, so it meets a run that sends (a time
    # window before the cancel could be empty only because a loaded machine ran the CLI slowly).
    sent = emulator.requests
    wait_for(lambda: emulator.requests > sent, "a request of the run", timeout=30, every=0.01)
    done = cli(wenv, "cancel", aid)
    returned = time.monotonic()
    assert done.returncode == 0, done.stderr
    # Bounded only so that a worker that keeps sending fails here instead of hanging the suite.
    wait_for(lambda: workers.threads(worker) == idle, "the run's threads to end", timeout=60)
    late = [round(s.at - returned, 2) for s in emulator.arrivals(returned + 2.0)]
    assert late == []
    row = jobs.get_analysis(engine, aid)
    assert row.status == Status.cancelled and row.lease_owner is None and row.frames_done < 100


def test_sigterm_hands_the_analysis_back_and_another_worker_finishes_it(
    env, database_url, engine, emulator, workers, tmp_path  # noqa: F811
):
    """Test that a SIGTERMed `cli.py worker` exits having released its lease (the analysis is
    queued again with its frames kept), so a second worker resumes it before the lease would
    have expired, sending none of the kept frames again."""
    lease = 60
    wenv = azure_env(env, database_url, emulator, AZURE_VISION_MAX_TPS=5,
                     FRAMEWISE_LEASE_SECONDS=lease)
    (aid,) = queue_here(wenv, clip(tmp_path, seconds=16))
    first = workers.start(wenv, "first")
    wait_for(lambda: len(stored(engine, aid)) >= 5, "the first frames", timeout=60)
    (first_owner,) = {o for o, ran in workers.runs() if ran == aid}
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0, workers.logs()
    # Released, not left to expire: right after the exit nobody holds it; a lease left behind
    # would keep it "first"'s for 60 s. The second worker starts only now, so that what is
    # stored here is exactly what the first one stored (frames it had in flight may go twice).
    handed = jobs.get_analysis(engine, aid)
    assert (handed.status, handed.lease_owner) == (Status.queued, None), workers.logs()
    kept = set(stored(engine, aid))
    assert 5 <= len(kept) < 80, "terminated after the end: no test"
    workers.start(wenv, "second")
    wait_for(lambda: len({o for o, ran in workers.runs() if ran == aid}) == 2,
             "the second worker to take it", timeout=lease / 2)
    final = wait_for(lambda: (a := jobs.get_analysis(engine, aid)).status == Status.succeeded
                     and a, "the end of the analysis", timeout=90)
    assert sorted(stored(engine, aid)) == list(range(80)) and final.frames_done == 80
    sent = Counter(h for _, h in emulator.images)
    hashes = thumb_hashes(wenv, aid, kept)
    assert all(sent[h] == 1 for h in hashes.values())  # frames kept were not sent again
    owners = {owner for owner, ran in workers.runs() if ran == aid}
    assert len(owners) == 2 and first_owner in owners


def test_one_worker_finishes_a_short_analysis_queued_behind_a_long_one_first(
    env, database_url, engine, emulator, workers, tmp_path  # noqa: F811
):
    """Test the fair queue: a 60-frame then a 4-frame analysis on one worker; the short one
    finishes first, under the one shared rate."""
    max_tps = 10
    wenv = azure_env(env, database_url, emulator, AZURE_VISION_MAX_TPS=max_tps)
    long_video = clip(tmp_path, "long.mp4", seconds=12)
    short_video = clip(tmp_path, "short.mp4", seconds=0.8, size=(352, 240))
    workers.start(wenv, "worker")
    wait_for(lambda: "waiting for analyses" in workers.procs[0].log.read_text(), "the worker")
    (long_id,) = queue_here(wenv, long_video)
    wait_for(lambda: len(stored(engine, long_id)) >= 3, "the long analysis under way")
    (short_id,) = queue_here(wenv, short_video)

    def finished() -> dict | None:
        rows = {i: jobs.get_analysis(engine, i) for i in (long_id, short_id)}
        if all(r.status == Status.succeeded for r in rows.values()):
            return {i: r.finished_at for i, r in rows.items()}
        return None

    ends = wait_for(finished, "both analyses", timeout=90)
    assert ends[short_id] < ends[long_id]
    assert len(stored(engine, long_id)) == 60 and len(stored(engine, short_id)) == 4
    assert emulator.max_in_window(LOADED_WINDOW_S) <= max_tps and emulator.statuses[429] == 0
