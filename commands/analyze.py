"""`analyze` and `retry`: queue an analysis, run it here unless --no-wait, print one JSON line."""

from __future__ import annotations

import json
import signal
import sys
from functools import partial
from pathlib import Path

from commands.args import UsageError
from services.access import LOCAL_USER
from services.analysis import jobs, shot_sampling
from services.analysis.estimate import estimate
from services.analysis.progress import frames_failed
from services.analysis.retry import RetryRefused, retry_analysis
from services.analysis.shot_sampling import ShotPlan, mean_rate
from services.analysis.worker import Worker
from services.context import Services
from services.domain import DEFAULT_SHOT_EVERY_S, AnalyzerKind, Feature, parse_features
from services.library import delete_video_if_unused, video_info
from services.logmask import SecretMask
from services.models import Analysis, Status
from services.questions import Question, QuestionError, load_questions_file
from services.upload.ingest import ingest_video
from services.video.probe import VideoError
from services.vision.openai_results import frame_estimate, frame_prices


def _features(args, analyzer: AnalyzerKind, settings) -> tuple[Feature, ...]:
    """--features for Azure AI Vision; for Azure OpenAI the caption and tags it asks for."""
    if analyzer.asks:
        if args.features:
            raise UsageError("--features is for --analyzer azure; with --analyzer openai use "
                             "--no-caption and --no-tags")
        return tuple(f for f, off in ((Feature.caption, args.no_caption),
                                      (Feature.tags, args.no_tags)) if not off)
    if args.no_caption or args.no_tags:
        raise UsageError("--no-caption and --no-tags are for --analyzer openai")
    try:
        features = parse_features(args.features) if args.features else ()
    except ValueError as exc:
        raise UsageError(f"--features {exc}") from None
    if analyzer.detects and not features:
        features = settings.vision_features
    return features


def _questions(args, analyzer: AnalyzerKind) -> tuple[Question, ...]:
    """The questions file's questions (Azure OpenAI only), checked before anything is stored."""
    if not analyzer.asks:
        if args.questions:
            raise UsageError("--questions is for --analyzer openai")
        return ()
    if not args.questions:
        raise UsageError("--analyzer openai needs --questions FILE (a JSON list of {key, text, "
                         "type, choices})")
    try:
        return load_questions_file(args.questions)
    except QuestionError as exc:
        raise UsageError(f"--questions {args.questions}: {exc}") from None


def _sampling(args) -> float | None:
    """N of shot-aware sampling (None: a fixed rate), the options checked together."""
    if args.sampling != "shots":
        if args.every is not None:
            raise UsageError("--every is for --sampling shots")
        return None
    for given, flag in ((args.fps is not None, "--fps"), (args.adaptive, "--adaptive"),
                        (args.full_shot_pass, "--full-shot-pass")):
        if given:
            raise UsageError(f"{flag} is for --sampling fps: shot-aware sampling plans its "
                             "frames from the shots (--every SECONDS)")
    return args.every if args.every is not None else DEFAULT_SHOT_EVERY_S


def _shot_plan(services: Services, video, every_s: float, max_frames: int | None) -> ShotPlan:
    """The shot pass, here and now (no cloud): the frames the run will sample."""
    print("finding the shots (one decode of the video) to plan the frames", file=sys.stderr)
    found = shot_sampling.scan(partial(services.store.ffmpeg_input, video.blob_key),
                               video.duration_s)
    assert found is not None  # nothing can stop it: no `alive` given
    return shot_sampling.plan(found, every_s, max_frames)


def cmd_analyze(args, services: Services) -> int:
    settings = services.settings
    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"no such file: {args.path}")
    analyzer = AnalyzerKind(args.analyzer) if args.analyzer else settings.analyzer
    if not settings.analyzer_ready(analyzer):
        raise UsageError(f"--analyzer {analyzer} needs {analyzer.endpoint_setting} to be set")
    # Every option is checked before the video is stored: a refusal leaves nothing behind.
    features = _features(args, analyzer, settings)
    questions = _questions(args, analyzer)
    every_s = _sampling(args)
    fps = args.fps if args.fps is not None else 1.0
    with path.open("rb") as stream:
        # The page's checks and messages: suffix and size before a byte is copied, then probe.
        video = ingest_video(
            services.engine, services.store, stream, filename=path.name,
            uploaded_by=LOCAL_USER, max_bytes=settings.max_upload_mb * 1024 * 1024,
            size=path.stat().st_size,
        )
    tokens = None
    if questions:  # priced per token: one frame's estimate at the size it is sent
        tokens = (frame_estimate(settings, video.width, video.height, questions,
                                 caption=Feature.caption in features,
                                 tags=Feature.tags in features), frame_prices(settings))
    try:
        shots = None if every_s is None else _shot_plan(services, video, every_s,
                                                        args.max_frames)
    except VideoError:  # probed, but does not decode: no run starts, so nothing is kept
        delete_video_if_unused(services.engine, services.store, video.id)
        raise
    plan = estimate(
        video_info(video), fps=fps, max_frames=args.max_frames, analyzer=analyzer,
        price_per_1000=settings.vision_price_per_1000, adaptive=args.adaptive, tokens=tokens,
        shot_plan=shots,
    )
    analysis = jobs.queue_analysis(
        services.engine, video_id=video.id, analyzer=analyzer, created_by=LOCAL_USER,
        sample_fps=fps if shots is None else mean_rate(shots, video.duration_s),
        max_frames=args.max_frames, frames_planned=plan.frames,
        features=features, adaptive=args.adaptive, estimated_cost=plan.cost,
        questions=questions, full_shot_pass=args.full_shot_pass,
        sampling_plan=shots.to_json() if shots is not None else None,
    )
    cost = f"; at most {plan.cost:.4f} USD ({plan.prompt_tokens} prompt tokens)" if tokens else ""
    if analyzer.cloud and not tokens:
        cost = f"; {plan.transactions} transactions, {plan.cost:.4f} USD"
    how = "" if shots is None else f" ({len(shots.shots)} shots, one per {shots.every_s:g} s " \
        "of a longer shot)"
    print(f"queued analysis {analysis.id}: {plan.frames} frames{how}{cost}", file=sys.stderr)
    return _run_and_report(services, analysis.id, args.no_wait)


def cmd_retry(args, services: Services) -> int:
    try:
        analysis = retry_analysis(services.engine, args.analysis_id)
    except RetryRefused as exc:
        raise UsageError(str(exc)) from None
    print(f"queued analysis {analysis.id} again: {analysis.frames_done} of "
          f"{analysis.frames_planned} frames already stored", file=sys.stderr)
    return _run_and_report(services, analysis.id, args.no_wait)


def _progress(done: int, planned: int) -> None:
    print(f"\rframes {done}/{planned}", end="", file=sys.stderr, flush=True)


def _status(text: str | None) -> None:
    """A wait begins or ends (throttling, an outage): say so on its own line."""
    print(f"\n{text}" if text else "\nthe service answers again; going on", file=sys.stderr,
          flush=True)


def _run_and_report(services: Services, analysis_id: str, no_wait: bool) -> int:
    """Run the analysis here (unless no_wait) and print the one JSON line of the outcome."""
    settings = services.settings
    if not no_wait:
        worker = Worker(engine=services.engine, store=services.store, settings=settings)
        # SIGTERM (or Ctrl-C) hands the analysis back to the queue at once, frames kept.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: worker.request_stop(hand_back=True))
        worker.run_one(analysis_id, on_progress=_progress, on_status=_status)
        print(file=sys.stderr)
    final = jobs.get_analysis(services.engine, analysis_id)
    if final is None:
        raise UsageError(f"analysis {analysis_id} was deleted while it ran")
    failed = frames_failed(services.engine, final.id)
    summary: dict[str, object] = {
        "analysis_id": final.id,
        "status": final.status,
        "frames": final.frames_done,
        "frames_failed": failed,
        "transactions": final.transactions,
        "truncated": final.truncated,
    }
    if final.analyzer.asks:
        summary |= _tokens(services, final)
    if final.error_message:
        # Our analysers scrub their messages; mask again, as a message may quote anything.
        error = SecretMask(settings.secrets()).mask(final.error_message)
        summary["error"] = error
        print(f"error: {error}", file=sys.stderr)
    if failed:
        print(f"warning: {failed} frames were refused by the service and are stored as not "
              "analysed (see the error column of frames.csv)", file=sys.stderr)
    if final.truncated:
        print("warning: the video is truncated; analysed as far as it decodes", file=sys.stderr)
    print(json.dumps(summary))
    if no_wait:  # queued: a worker (the server's, say) may already be running it, or be done
        return 0 if final.status != Status.failed else 1
    return 0 if final.status in (Status.succeeded, Status.queued) else 1


def _tokens(services: Services, analysis: Analysis) -> dict[str, object]:
    """Azure OpenAI: the tokens the service counted, the estimate, and the cost at the settings'
    prices."""
    # pandas (~50 MB) only for an Azure OpenAI analysis's summary: `analyze` stays small.
    from services.insights.answers import load_usage, usage_totals

    totals = usage_totals(load_usage(services.engine, analysis.id),
                          frame_prices(services.settings))
    return {"prompt_tokens": totals["prompt_tokens"],
            "completion_tokens": totals["completion_tokens"],
            "estimated_cost_usd": analysis.estimated_cost, "cost_usd": totals["cost_usd"]}
