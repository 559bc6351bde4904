"""8. Search across analyses: insights.search.search over 100 analyses and 60,000 detections.

100 azure analyses of 60 frames each (one a second), 600 detections per analysis (tags, objects,
people, OCR lines, dense captions, smart crops), bulk-inserted into a fresh SQLite database and,
when PostgreSQL can be started (the tests' throwaway server), a fresh PostgreSQL one. One word
shows in one stretch of one analysis only. Each query runs warm, 5 times, median.
"""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np

from bench.common import Row, limit_row, log, median
from bench.harness import bulk_insert, on_databases
from services.domain import AnalyzerKind
from services.insights.search import search
from services.models import Analysis, Detection, Frame, Status, Video, utcnow

SECTION = "8. Search"
LIMIT_S = 0.5
KINDS = ("tag", "object", "person", "text_line", "dense_caption", "smart_crop")
KIND_SHARE = (0.5, 0.2, 0.12, 0.1, 0.06, 0.02)
TAGS = [f"tag{i:02d}" for i in range(60)]
OBJECTS = ["car", "chair", "table", "laptop", "cup", "bottle", "dog", "tv", "phone", "bag"]
RARE = "zebra crossing"  # OCR line of frames 20-24 of one analysis only (number 57 of 100)
# (query, what it shows, limit)
QUERIES = (
    ("zebra", "a word of one stretch of one analysis: 1 segment", 50),
    ("tag07", "a tag of every analysis, first 50 segments", 50),
    ("tag07", "a tag of every analysis, all of its segments", 100_000),
    ("text", "the OCR lines of every analysis, first 50 segments", 50),
    ("no such words", "no match", 50),
)


def build_library(engine, n_analyses: int = 100, frames_each: int = 60,
                  detections_each: int = 600, seed: int = 8) -> int:
    """Bulk-insert the library; returns the number of detections."""
    rng = np.random.default_rng(seed)
    rare_in = min(57, n_analyses - 1)
    start = utcnow() - timedelta(days=1)
    videos, analyses, frames, detections = [], [], [], []
    for n in range(n_analyses):
        video = Video(original_filename=f"clip{n:03d}.mp4", blob_key=f"videos/s{n:03d}.mp4",
                      size_bytes=1, sha256=f"{n:064d}", duration_s=float(frames_each),
                      fps=30.0, width=1280, height=720, codec="h264", uploaded_by="bench")
        analysis = Analysis(video_id=video.id, status=Status.succeeded, analyzer=AnalyzerKind.azure,
                            features="tags,objects,people,read,denseCaptions", sample_fps=1.0,
                            frames_planned=frames_each, frames_done=frames_each,
                            transactions=frames_each, created_by="bench",
                            created_at=start + timedelta(minutes=n))
        videos.append(video.model_dump())
        analyses.append(analysis.model_dump())
        for i in range(frames_each):
            frames.append({
                "analysis_id": analysis.id, "frame_index": i, "timestamp_s": float(i),
                "width": 1280, "height": 720, "remote_analysed": True, "transactions": 1,
                "thumbnail_key": f"analyses/{analysis.id}/thumbs/{i:07d}.jpg",
                "caption": f"a scene with things number {(n + i) % 97}",
                "caption_confidence": 0.8, "shot_index": i // 20, "is_black": False,
            })
        kinds = rng.choice(len(KINDS), size=detections_each, p=KIND_SHARE)
        conf = rng.random(detections_each)
        for j in range(detections_each):
            kind = KINDS[kinds[j]]
            frame = j * frames_each // detections_each
            label = {"tag": TAGS[j % len(TAGS)], "object": OBJECTS[j % len(OBJECTS)],
                     "person": "person", "smart_crop": "1.33",
                     "dense_caption": f"a thing {j % 40} near another"}.get(kind, f"text {j % 500}")
            if n == rare_in and kind == "text_line" and 20 <= frame <= 24:
                label = RARE
            detections.append({"analysis_id": analysis.id, "frame_index": frame, "kind": kind,
                               "label": label, "confidence": 0.99 if label == RARE
                               else float(conf[j]), "x": None, "y": None, "w": None, "h": None})
        # The rare line in every frame of its stretch, whatever the random kinds drew.
        if n == rare_in:
            for frame in range(20, 25):
                detections.append({"analysis_id": analysis.id, "frame_index": frame,
                                   "kind": "text_line", "label": RARE, "confidence": 0.99,
                                   "x": None, "y": None, "w": None, "h": None})
    bulk_insert(engine, {Video: videos, Analysis: analyses, Frame: frames,
                         Detection: detections})
    return len(detections)


def time_queries(engine, repeats: int = 5) -> list[tuple[str, str, int, float, float, int]]:
    """(query, what, limit, median s, first s, segments found) per query."""
    out = []
    for query, what, limit in QUERIES:
        times, found = [], []
        for _ in range(repeats + 1):  # the first run warms the caches; reported apart
            t0 = time.perf_counter()
            found = search(engine, query, public_url="http://bench", min_confidence=0.5,
                           limit=limit)
            times.append(time.perf_counter() - t0)
        out.append((query, what, limit, median(times[1:]), times[0], len(found)))
    return out


def _rows(engine_name: str, engine, repeats: int, n_analyses: int) -> list[Row]:
    t0 = time.perf_counter()
    count = build_library(engine, n_analyses, detections_each=60_000 // n_analyses)
    log(f"8. search: {engine_name}: {n_analyses} analyses, {count} detections inserted in "
        f"{time.perf_counter() - t0:.1f} s")
    rows = []
    for query, what, limit, med, first, n in time_queries(engine, repeats):
        log(f"   {engine_name} {query!r} limit {limit}: {med * 1000:.0f} ms, {n} segments")
        rows.append(limit_row(
            SECTION, f"search {query!r} on {engine_name}, {n_analyses} analyses, "
            f"{count:,} detections ({what})", med, LIMIT_S, "s",
            f"median of {repeats} warm runs; first run {first:.3f} s; {n} segments returned; "
            f"limit {limit}; minimum confidence 0.5; every kind", fmt=".3f"))
    return rows


def rows(repeats: int = 5, postgres: bool = True, n_analyses: int = 100) -> list[Row]:
    """Rows on SQLite and (unless postgres=False) PostgreSQL; 60,000 detections in all."""
    return on_databases(SECTION, lambda name, engine: _rows(name, engine, repeats, n_analyses),
                        postgres)
