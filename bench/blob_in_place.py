"""11. A Blob video read in place: local temp bytes while `cli.py analyze` runs against Azurite.

A 66 MB (13 s) 1280x720 video (noisy footage at 40 Mbit/s) is uploaded, probed and sampled at
1 fps by `cli.py analyze` (local analyser) with Azure Blob Storage on Azurite; the child's TMPDIR
is a fresh folder, sampled every 20 ms for files in it and files its processes hold open there
(unnamed temporary files included; tests/fixtures/tempwatch.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bench.common import PY, ROOT, Row, child_env, log, scratch
from bench.videos import big_video
from tests.fixtures.azurite import azurite_process, unique_container
from tests.fixtures.tempwatch import TempWatch

SECTION = "11. Blob video in place"
MB = 1024 * 1024


def rows() -> list[Row]:
    video = big_video(seconds=13)
    size = video.stat().st_size
    log(f"11. blob in place: {size / MB:.0f} MB video through Azurite")
    with scratch("blob-") as tmp:
        folder = Path(tmp)
        (folder / "azurite").mkdir()
        temp, data = folder / "temp", folder / "data"
        temp.mkdir()
        data.mkdir()
        with azurite_process(folder / "azurite") as azurite, TempWatch(temp) as watch:
            env = child_env(FRAMEWISE_DATA_DIR=str(data), TMPDIR=str(temp),
                            AZURE_STORAGE_CONNECTION_STRING=azurite.connection_string,
                            AZURE_STORAGE_CONTAINER=unique_container(),
                            FRAMEWISE_ANALYZER="local")
            proc = subprocess.Popen([PY, str(ROOT / "cli.py"), "analyze", str(video), "--fps",
                                     "1"], env=env, cwd=data, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True)
            watch.sid = proc.pid
            out, err = proc.communicate(timeout=900)
        if proc.returncode:
            raise RuntimeError(f"cli.py analyze failed: {err[-500:]}")
        summary = json.loads(out.strip().splitlines()[-1])
    log(f"   peak temp {watch.peak / MB:.2f} MB, {summary['frames']} frames")
    return [Row(
        SECTION, f"local temp for a {size / MB:.0f} MB Blob video (upload, probe, 1 fps)",
        f"{watch.peak / MB:.2f} MB peak", f"<= {size / 10 / MB:.1f} MB (a tenth)",
        watch.peak / (size / 10), watch.peak <= size / 10,
        f"{summary['status']}, {summary['frames']} frames; {watch.samples} samples of TMPDIR; "
        "before this change the whole video was copied to temp (72 MB for a 71 MB video)")]
