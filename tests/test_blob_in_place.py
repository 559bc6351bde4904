"""Videos in Blob Storage are read in place: probed and sampled by ffmpeg over HTTP range requests.

`cli.py analyze` runs against Azurite with its own temporary folder (TMPDIR), watched while it
runs (tests/fixtures/tempwatch.py counts unnamed temporary files too); the figures for a 70 MB
video are in the benchmark.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.fixtures.azurite import unique_container
from tests.fixtures.tempwatch import TempWatch
from tests.fixtures.tools import ROOT, wait_for
from tests.fixtures.videos import make_heavy_video

MB = 1024 * 1024


def watched_cli(env, temp, *args, timeout=240):
    """Run cli.py in its own session with TMPDIR=temp; (returncode, stdout, stderr, watch)."""
    with TempWatch(temp) as watch:
        proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *args],
                                env={**env, "TMPDIR": str(temp)}, cwd=env["FRAMEWISE_DATA_DIR"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        watch.sid = proc.pid
        out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err, watch


def test_the_watch_sees_unnamed_temporary_files(tmp_path):
    """Test that the temp watch counts a TemporaryFile (no name on Linux) held by the child.

    The child holds the file until told to let go, and is told only once the watch has taken
    two samples since the child said it held it, so at least one sample saw it.
    """
    temp = tmp_path / "temp"
    temp.mkdir()
    code = ("import sys, tempfile\n"
            "f = tempfile.TemporaryFile()\n"
            "f.write(b'x' * 3_000_000); f.flush()\n"
            "print('held', flush=True); sys.stdin.readline()\n")
    with TempWatch(temp) as watch:
        proc = subprocess.Popen([sys.executable, "-c", code], env={"TMPDIR": str(temp)},
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                start_new_session=True)
        watch.sid = proc.pid
        assert proc.stdout.readline() == "held\n"
        seen = watch.samples
        wait_for(lambda: watch.samples >= seen + 2, "two samples of the held file", timeout=30)
        proc.communicate("\n", timeout=30)
    assert proc.returncode == 0
    assert list(temp.iterdir()) == [] and watch.peak >= 3_000_000


@pytest.mark.parametrize("fps", [2.0, 0.15], ids=["sequential", "seeking"])
def test_a_blob_video_is_analysed_with_local_temp_under_a_tenth_of_its_size(
    env, azurite, tmp_path, fps  # noqa: F811
):
    """Test that a 20 MB Blob video is probed and sampled in place: temp stays under 2 MB."""
    video = make_heavy_video(tmp_path / "heavy.mp4", seconds=10)
    size = video.stat().st_size
    assert size > 15 * MB
    temp = tmp_path / "temp"
    temp.mkdir()
    wenv = {**env, "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "AZURE_STORAGE_CONTAINER": unique_container()}
    code, out, err, watch = watched_cli(wenv, temp, "analyze", str(video), "--fps", str(fps))
    assert code == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["status"] == "succeeded" and summary["frames"] == (20 if fps == 2 else 2)
    assert watch.samples > 20  # it watched the whole run, not an instant of it
    assert watch.peak < min(size / 10, 2 * MB), (watch.peak, size)
