"""`clip`: any range of an analysed video as an MP4 file, frame exact, streamed from storage."""

from __future__ import annotations

import json
import os
from contextlib import closing
from pathlib import Path

from commands.args import UsageError
from services.analysis.jobs import get_analysis
from services.context import Services
from services.library import get_video
from services.video.clips import ClipError, check_range, stream_clip


def cmd_clip(args, services: Services) -> int:
    analysis = get_analysis(services.engine, args.analysis_id)
    if analysis is None:
        raise UsageError(f"no analysis with id {args.analysis_id}")
    video = get_video(services.engine, analysis.video_id)
    if video is None:
        raise UsageError("the video of this analysis was deleted")
    try:
        start, end = check_range(args.start, args.end, video.duration_s)
    except ClipError as exc:
        raise UsageError(f"--start/--end: {exc}") from None
    out = Path(args.output)
    if not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: no such folder {out.parent}")
    # Written next to the target and renamed when whole: an interrupted clip leaves nothing.
    part = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        source = services.store.ffmpeg_input(video.blob_key)
        with part.open("wb") as f, closing(stream_clip(source, start, end)) as chunks:
            for chunk in chunks:
                f.write(chunk)
        part.replace(out)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        part.unlink(missing_ok=True)
    print(json.dumps({"clip": str(out), "start_s": start, "end_s": end,
                      "bytes": out.stat().st_size}))
    return 0
