"""15. Shot-aware sampling against fixed 1 fps: transactions, and the label segments still found.

A 4.8-minute video of 16 shots of varied lengths (2.1 to 50.2 s), each a flat colour with a small
drifting box (each shot's on a row of its own: no two frames alike, so the result cache answers
nothing), joined by hard cuts; in three long shots a magenta patch (a ninth of the picture, too
small to be a cut) shows for 3 to 8 s at seeded random times: an event inside a shot. The Vision
emulator (in process) answers every frame with the recordings, adds an OCR line naming the
shot's colour, and one more, EVENT, while the patch shows. Fixed 1 fps and shot-aware (N = 10 s)
analyses run through the pipeline (Worker.run_one), each in its own data folder. A fixed
analysis's label segment counts as found when the shot-aware one has a segment of the same kind
and label overlapping it (1 s of slack: fixed sampling's own gap).
"""

from __future__ import annotations

import io
import itertools
import math
import random
from pathlib import Path

from PIL import Image

from bench.common import OUT, Row, log, scratch, timed
from bench.harness import ingest, services_for
from bench.videos import _cached, ffmpeg
from services.analysis import jobs, shot_sampling
from services.analysis.worker import Worker
from services.context import Services
from services.insights.results import load_detections, load_frames
from services.insights.segments import label_segments
from services.library import video_info
from services.models import Analysis, Video
from services.video.frames import planned_frames
from tests.fixtures.scenes import SceneEmulator, _near, _with_line

SECTION = "15. Shot-aware sampling"
EVERY_S = 10.0
FPS = 25
SIZE = (640, 360)
COLOURS = {  # mean colour -> the OCR line the emulator adds
    (220, 40, 40): "RED SIGN", (40, 60, 220): "BLUE SIGN", (40, 170, 60): "GREEN SIGN",
    (230, 210, 40): "YELLOW SIGN", (40, 200, 210): "CYAN SIGN", (128, 128, 128): "GREY SIGN",
}
MAGENTA = (230, 40, 230)
# (seconds, colour index): adjacent shots differ.
SHOTS = ((3.2, 0), (24.6, 1), (7.9, 2), (41.3, 3), (2.1, 4), (15.4, 5), (30.7, 0), (5.3, 2),
         (12.6, 1), (50.2, 4), (4.4, 3), (19.8, 5), (8.7, 0), (35.5, 2), (6.1, 1), (17.9, 3))
EVENT_SHOTS = (3, 9, 13)  # the long shots with a patch


def events(seed: int = 20) -> dict[int, tuple[float, float]]:
    """Shot index -> (start, end) of its patch, in seconds from the shot's start."""
    rng = random.Random(seed)
    out = {}
    for i in EVENT_SHOTS:
        length = rng.uniform(3.0, 8.0)
        start = rng.uniform(1.0, SHOTS[i][0] - length - 1.0)
        out[i] = (round(start, 2), round(start + length, 2))
    return out


def video(out: Path = OUT) -> Path:
    palette = list(COLOURS)
    total = sum(s for s, _ in SHOTS)
    path = out / f"shot-sampling-{len(SHOTS)}x-{total:g}s-{SIZE[0]}x{SIZE[1]}-{FPS}fps.mp4"
    wxh, box, patch = f"{SIZE[0]}x{SIZE[1]}", f"{SIZE[0] // 10}x{SIZE[1] // 10}", \
        f"{SIZE[0] // 3}x{SIZE[1] // 3}"
    hexed = ["0x{:02x}{:02x}{:02x}".format(*c) for c in [*palette, MAGENTA]]
    parts, labels = [], ""
    for i, (seconds, colour) in enumerate(SHOTS):
        src = f"rate={FPS}:duration={seconds}"
        part = (f"color=c={hexed[colour]}:size={wxh}:{src}[b{i}];"
                f"color=c=white:size={box}:{src}[w{i}];"
                f"[b{i}][w{i}]overlay=x='40+6*t':y={8 + 4 * i}:shortest=1")
        if i in events():
            a, b = events()[i]
            part += (f"[o{i}];color=c={hexed[-1]}:size={patch}:{src}[m{i}];"
                     f"[o{i}][m{i}]overlay=x=W-w:y=H-h:shortest=1:enable='between(t,{a},{b})'")
        parts.append(part + f"[s{i}]")
        labels += f"[s{i}]"
    graph = ";".join(parts) + f";{labels}concat=n={len(SHOTS)}:v=1:a=0[out0]"
    return _cached(path, lambda tmp: ffmpeg(
        "-f", "lavfi", "-i", graph, "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(tmp)))


class ShotScene(SceneEmulator):
    """SceneEmulator's colour lines, plus EVENT on a frame whose bottom-right ninth is magenta."""

    def _success_body(self, query, size):
        body = super()._success_body(query, size)
        image = getattr(self._request, "image", b"")
        if image:
            with Image.open(io.BytesIO(image)) as im:
                w, h = im.size
                corner = im.crop((w - w // 3, h - h // 3, w, h))
                buf = io.BytesIO()
                corner.convert("RGB").save(buf, "JPEG")
            if _near(buf.getvalue(), MAGENTA):
                body = _with_line(body, "EVENT", self.line_confidence)
        return body


def _run(services: Services, row: Video, shot_plan: shot_sampling.ShotPlan | None) -> Analysis:
    frames = shot_plan.frames if shot_plan else planned_frames(video_info(row), 1.0)
    queued = jobs.queue_analysis(
        services.engine, video_id=row.id, analyzer="azure", created_by="bench",
        sample_fps=1.0 if shot_plan is None else shot_sampling.mean_rate(shot_plan,
                                                                         row.duration_s),
        max_frames=None, frames_planned=frames, features=services.settings.vision_features,
        sampling_plan=shot_plan.to_json() if shot_plan else None)
    Worker(engine=services.engine, store=services.store, settings=services.settings) \
        .run_one(queued.id)
    done = jobs.get_analysis(services.engine, queued.id)
    assert done is not None
    if done.status != "succeeded":
        raise RuntimeError(f"analysis ended {done.status}: {done.error_message}")
    return done


def _segments(services: Services, analysis_id: str) -> list[tuple[str, str, float, float]]:
    segs = label_segments(load_frames(services.engine, analysis_id),
                          load_detections(services.engine, analysis_id),
                          services.settings.min_confidence)
    return [(r.kind, r.label, float(r.start_s), float(r.end_s)) for r in segs.itertuples()]


def found(fixed: list, aware: list, slack: float = 1.0) -> list[bool]:
    """Per fixed segment: does a shot-aware one of the same kind and label overlap it?"""
    return [any(k == k2 and lab == lab2 and s2 <= e + slack and e2 >= s - slack
                for k2, lab2, s2, e2 in aware) for k, lab, s, e in fixed]


def rows(path: Path | None = None) -> list[Row]:
    path = path or video()
    picture = {*COLOURS.values(), "EVENT"}
    with ShotScene(lines=COLOURS) as emu:
        with scratch("shots-fixed-") as tmp:
            services = services_for(Path(tmp), emu.endpoint, emu.key, 1000, 8)
            row = ingest(services, path)
            log(f"15. fixed 1 fps over {path.name} ({row.duration_s:.1f} s)")
            before = emu.requests
            fixed = _run(services, row, None)
            fixed_requests = emu.requests - before
            fixed_segs = _segments(services, fixed.id)
            services.engine.dispose()
        with scratch("shots-aware-") as tmp:
            services = services_for(Path(tmp), emu.endpoint, emu.key, 1000, 8)
            row = ingest(services, path)
            log(f"15. shot-aware, N = {EVERY_S:g} s: the shot pass, then the run")
            source = services.store.ffmpeg_input(row.blob_key)
            with timed() as scan_t:
                scanned = shot_sampling.scan(source, row.duration_s)
            assert scanned is not None
            planned = shot_sampling.plan(scanned, EVERY_S)
            before = emu.requests
            with timed() as run_t:
                aware = _run(services, row, planned)
            aware_requests = emu.requests - before
            aware_segs = _segments(services, aware.id)
            services.engine.dispose()
    hits = found(fixed_segs, aware_segs)
    pic = [(s, h) for s, h in zip(fixed_segs, hits, strict=True) if s[1] in picture]
    missed = [f"{lab} {s:g}-{e:g} s" for (_, lab, s, e), h in zip(fixed_segs, hits, strict=True)
              if not h]
    share = aware_requests / fixed_requests
    all_share = sum(hits) / len(hits)
    pic_share = sum(h for _, h in pic) / len(pic)
    cuts = [round(s.start_s, 2) for s in scanned.shots[1:]]
    # Each shot's source makes ceil(seconds * FPS) frames: the cuts made, in frames.
    made = list(itertools.accumulate(math.ceil(round(x * FPS, 6)) for x, _ in SHOTS))
    truth = [round(n / FPS, 2) for n in made[:-1]]
    return [
        Row(SECTION, f"transactions: shot-aware (N = {EVERY_S:g} s) vs fixed 1 fps",
            f"{aware_requests} vs {fixed_requests}", "<= 15% of fixed", share, share <= 0.15,
            f"requests the emulator answered; billed: {aware.transactions} vs "
            f"{fixed.transactions}; {planned.frames} frames planned for {len(scanned.shots)} "
            f"shots ({len(SHOTS)} made)"),
        Row(SECTION, "label segments of fixed 1 fps found by shot-aware, all kinds",
            f"{sum(hits)} of {len(hits)}", ">= 95%", all_share, all_share >= 0.95,
            "tags, objects, people, captions and OCR lines; the recordings' own labels show on "
            "every frame (one segment each in both runs); missed: "
            + ("; ".join(missed) or "none")),
        Row(SECTION, "... of them, the segments that follow the picture (colour lines, EVENT)",
            f"{sum(h for _, h in pic)} of {len(pic)}", "(information)", pic_share, None,
            f"EVENT: a patch inside a long shot for 3 to 8 s at {events()} (shot: seconds "
            f"into it); a sample every <= {EVERY_S:g} s of a shot catches such an event only "
            "when one falls inside it"),
        Row(SECTION, "shot pass before the run (plans the frames; no cloud)",
            f"{scan_t.wall:.1f} s wall, {scan_t.cpu:.1f} s CPU", "", None, None,
            f"{row.duration_s:.1f} s of {SIZE[0]}x{SIZE[1]} {FPS} fps; cuts found "
            f"{'= the cuts made' if cuts == truth else f'{cuts} vs made {truth}'}; the "
            f"shot-aware run itself (seeks to {planned.frames} frames): {run_t.wall:.1f} s"),
    ]
