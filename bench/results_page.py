"""4. The results page's server work on a big analysis: load, build every chart, serialize; CSV.

3,600 frames (an hour at 1 fps) and 60,000 detections are bulk-inserted into a fresh SQLite
database. Charts are serialized the way st.altair_chart does it (Streamlit's own converter:
chart.to_dict() with the datasets as Arrow, then the spec as JSON), since plain to_dict() refuses
data over 5,000 rows.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.common import Row, limit_row, log, median, scratch
from bench.harness import bulk_insert, services_for
from services.analysis.jobs import get_analysis
from services.domain import AnalyzerKind, Export
from services.insights import exports, results, segments
from services.models import Analysis, Detection, Frame, Status, Video

SECTION = "4. Results page"
KINDS = ("tag", "object", "person", "text_line", "dense_caption", "smart_crop")
KIND_SHARE = (0.5, 0.2, 0.12, 0.1, 0.06, 0.02)
TAGS = [f"tag{i:02d}" for i in range(60)]
OBJECTS = ["person", "car", "chair", "table", "laptop", "cup", "bottle", "dog", "tv", "phone"]


def build_analysis(engine, n_frames: int = 3600, n_detections: int = 60_000, seed: int = 1) -> str:
    """An azure analysis with n_frames frames and n_detections detections, bulk-inserted."""
    rng = np.random.default_rng(seed)
    video = Video(original_filename="bench.mp4", blob_key=f"videos/bench{seed}.mp4",
                  size_bytes=1, sha256="0" * 64, duration_s=float(n_frames), fps=30.0,
                  width=1280, height=720, codec="h264", uploaded_by="bench")
    analysis = Analysis(video_id=video.id, status=Status.succeeded, analyzer=AnalyzerKind.azure,
                        features="tags,objects,people,caption,read", sample_fps=1.0,
                        frames_planned=n_frames, frames_done=n_frames,
                        transactions=n_frames, created_by="bench")
    t = np.arange(n_frames, dtype=float)
    wave = (np.sin(t / 60) + 1) / 2
    black = (t % 900) < 5
    frames = [{
        "analysis_id": analysis.id, "frame_index": i, "timestamp_s": float(i), "width": 1280,
        "height": 720, "thumbnail_key": f"analyses/{analysis.id}/thumbs/{i:07d}.jpg",
        "raw_result_key": f"analyses/{analysis.id}/raw/{i:07d}.json",
        "caption": f"a scene with things number {i % 97}", "caption_confidence": 0.5 + wave[i] / 2,
        "brightness": 0.02 if black[i] else 0.3 + 0.4 * wave[i], "contrast": float(rng.random()),
        "sharpness": float(rng.random()), "colourfulness": float(rng.random()),
        "motion": float(rng.random() / 5), "is_black": bool(black[i]), "shot_index": i // 40,
        "remote_analysed": True, "transactions": 1,
    } for i in range(n_frames)]
    kinds = rng.choice(len(KINDS), size=n_detections, p=KIND_SHARE)
    conf = rng.random(n_detections)
    boxes = rng.integers(0, 600, size=(n_detections, 4))
    detections = []
    for j in range(n_detections):
        kind = KINDS[kinds[j]]
        label = {"tag": TAGS[j % len(TAGS)], "object": OBJECTS[j % len(OBJECTS)],
                 "person": "person", "smart_crop": "1"}.get(kind, f"text {j % 500}")
        x, y, w, h = (None,) * 4 if kind == "tag" else (int(v) for v in boxes[j])
        detections.append({"analysis_id": analysis.id, "frame_index": j * n_frames // n_detections,
                           "kind": kind, "label": label, "confidence": float(conf[j]),
                           "x": x, "y": y, "w": w, "h": h})
    bulk_insert(engine, {Video: [video.model_dump()], Analysis: [analysis.model_dump()],
                         Frame: frames, Detection: detections})
    return analysis.id


def serialize(chart) -> int:
    """What st.altair_chart does with a chart on the server; returns the bytes it would send."""
    try:
        from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec
    except ImportError:  # Streamlit moved its converter: fall back to plain to_dict
        import altair as alt

        with alt.data_transformers.disable_max_rows():
            return len(json.dumps(chart.to_dict()))
    spec = _convert_altair_to_vega_lite_spec(chart)
    data = sum(len(v) for v in spec.pop("datasets", {}).values() if isinstance(v, bytes))
    return data + len(json.dumps(spec))


def page_charts(frames, detections, min_conf: float = 0.5) -> tuple[dict[str, Callable], list]:
    """Every public chart builder of components/charts.py (return type `alt.*`), with arguments
    found by parameter name as the results page passes them; and the builders it cannot call.

    Discovered rather than listed, because components/charts.py is still changing: a builder
    taking `metric` and `title` is called once per METRICS entry; `series` and `cells` are made
    by count_series and tag_cells (their time counts as the builder's).
    """
    from components import charts

    t = float(frames["timestamp_s"].iloc[len(frames) // 2])
    given = {"frames": frames, "detections": detections, "min_confidence": min_conf, "t": t,
             "duration": float(frames["timestamp_s"].max()) + 1.0}
    makers = {"series": getattr(charts, "count_series", None),
              "cells": getattr(charts, "tag_cells", None)}
    found: dict[str, Callable] = {}
    skipped = []
    for name, fn in inspect.getmembers(charts, inspect.isfunction):
        sig = inspect.signature(fn)
        if name.startswith("_") or fn.__module__ != charts.__name__:
            continue
        if "alt." not in str(sig.return_annotation):
            continue  # data preparation: timed inside the builders that use it
        args, missing = {}, []
        for p in sig.parameters.values():
            if p.name in given:
                args[p.name] = given[p.name]
            elif makers.get(p.name) is not None:
                args[p.name] = makers[p.name]
            elif p.name not in ("metric", "title") and p.default is inspect.Parameter.empty:
                missing.append(p.name)
        if missing:
            skipped.append(f"{name}({', '.join(missing)})")
            continue

        def call(fn=fn, args=args, **extra):
            real = {k: (v(frames, detections, min_conf) if callable(v) else v)
                    for k, v in args.items()}
            return fn(**real, **extra)

        if "metric" in sig.parameters and "title" in sig.parameters:
            for metric, title in getattr(charts, "METRICS", ()):
                found[f"{name}[{metric}]"] = (
                    lambda call=call, m=metric, ti=title: call(metric=m, title=ti))
        else:
            found[name] = call
    return found, skipped


def page_tables(frames, detections, min_conf: float = 0.5) -> None:
    """The tables the page prepares beside the charts (informational)."""
    from components import tables

    results.frames_table(frames, detections, min_conf)
    tables.caption_rows(frames, detections, min_conf)
    tables.text_line_rows(detections, min_conf)


def segment_timeline(frames, detections, min_conf: float = 0.5):
    """The segments and their timeline chart, as the results page makes them."""
    from components import charts, timeline

    segs = segments.segments(frames, detections, min_conf)
    rows = timeline.timeline_rows(segs, charts.frame_step(frames), list(segments.SEGMENT_KINDS))
    return timeline.segment_timeline(rows, float(frames["timestamp_s"].median()))



def one_view(engine, analysis_id: str) -> dict[str, float]:
    """Seconds per step of one results-page view, plus the bytes the charts would send."""
    steps: dict[str, float] = {}
    start = time.perf_counter()
    frames = results.load_frames(engine, analysis_id)
    detections = results.load_detections(engine, analysis_id)
    steps["load"] = time.perf_counter() - start
    sent = 0
    builders, _ = page_charts(frames, detections)
    for name, build in builders.items():
        t0 = time.perf_counter()
        chart = build()
        t1 = time.perf_counter()
        sent += serialize(chart)
        steps[f"build {name}"] = t1 - t0
        steps[f"serialize {name}"] = time.perf_counter() - t1
    t0 = time.perf_counter()
    chart = segment_timeline(frames, detections)
    t1 = time.perf_counter()
    sent += serialize(chart)
    steps["build segment_timeline (with the segments)"] = t1 - t0
    steps["serialize segment_timeline"] = time.perf_counter() - t1
    steps["charts total"] = time.perf_counter() - start
    t0 = time.perf_counter()
    page_tables(frames, detections)
    steps["tables (info)"] = time.perf_counter() - t0
    steps["bytes"] = sent
    steps["frames"], steps["detections"] = len(frames), len(detections)
    return steps


def rows(repeats: int = 3, n_frames: int = 3600, n_detections: int = 60_000) -> list[Row]:
    t0 = time.perf_counter()
    import components.charts  # noqa: F401 - imported before timing: a server imports it once
    import components.tables  # noqa: F401

    imported = time.perf_counter() - t0
    with scratch("results-") as tmp:
        services = services_for(Path(tmp))
        t0 = time.perf_counter()
        aid = build_analysis(services.engine, n_frames, n_detections)
        log(f"4. results page: {n_frames} frames, {n_detections} detections inserted in "
            f"{time.perf_counter() - t0:.1f} s")
        views = [one_view(services.engine, aid) for _ in range(repeats)]
        csv_times, size = [], 0
        analysis = get_analysis(services.engine, aid)
        assert analysis is not None
        for _ in range(repeats):
            t0 = time.perf_counter()
            size = len(exports.export_files(services.engine, analysis, 0.0,  # every row
                                            (Export.detections,))[Export.detections])
            csv_times.append(time.perf_counter() - t0)
        other = {}
        for name in ("frames", "segments", "json"):
            t0 = time.perf_counter()
            exports.export_files(services.engine, analysis, 0.5, (name,))
            other[name] = time.perf_counter() - t0
        frames = results.load_frames(services.engine, aid)
        builders, skipped = page_charts(frames, results.load_detections(services.engine, aid))
        services.engine.dispose()
    med = {k: median([v[k] for v in views]) for k in views[0]}
    slowest = sorted(((k, v) for k, v in med.items() if k.startswith(("build", "serialize"))),
                     key=lambda kv: -kv[1])[:3]
    log(f"   charts {med['charts total']:.2f} s (first view {views[0]['charts total']:.2f} s), "
        f"detections.csv {median(csv_times):.2f} s")
    return [
        limit_row(SECTION, f"load + build + serialize every chart ({int(med['frames'])} frames, "
                  f"{int(med['detections'])} detections)", med["charts total"], 1.0, "s",
                  f"median of {repeats}; first view in this process {views[0]['charts total']:.2f}"
                  f" s (after importing components.charts and .tables: {imported:.2f} s, paid "
                  f"once per server); load {med['load']:.2f} s; slowest: "
                  + ", ".join(f"{k} {v:.2f} s" for k, v in slowest)
                  + f"; {med['bytes'] / 1e6:.1f} MB of specs + Arrow data; builders: "
                  + ", ".join(builders)
                  + (f"; not called (unknown parameters): {', '.join(skipped)}" if skipped else "")
                  + f"; tables beside the charts {med['tables (info)']:.2f} s (not counted)"),
        limit_row(SECTION, f"detections.csv export ({n_detections} rows)", median(csv_times),
                  1.0, "s", f"median of {repeats}; insights.exports.export_files at minimum "
                  f"confidence 0 (every row), {size / 1e6:.1f} MB; at 0.5, frames.csv took "
                  f"{other['frames']:.2f} s, segments.csv {other['segments']:.2f} s, the "
                  f"insights JSON {other['json']:.2f} s (info)"),
    ]
