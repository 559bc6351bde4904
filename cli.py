"""Headless Framewise (no Streamlit): analyze, export, search, compare, list, cancel, retry, worker.

Exit codes: 0 success, 1 the analysis or a database statement failed, 2 bad input or settings
(either way one line `error: ...`).
The last line `analyze` prints on stdout is one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from services.analysis.adaptive import ADAPTIVE_EVERY_S
from services.analysis.estimate import estimate
from services.config import Settings, SettingsError, load_settings, parse_features
from services.context import Services, open_services
from services.db import DatabaseError, DatabaseUnavailable, database_error
from services.insights.labels import LABEL_KINDS
from services.logmask import SecretMask, install_secret_masking
from services.sql_grant import GrantError
from services.storage.base import StorageError
from services.video.probe import VideoError

log = logging.getLogger("framewise")
LOCAL_USER = "local"


class UsageError(Exception):
    """Bad input: reported as one `error:` line with exit code 2."""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 120:
        raise argparse.ArgumentTypeError("must be above 0 and at most 120")
    return value


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number above 0, got {text!r}")
    return int(text)


def _confidence(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _confidence_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-confidence", type=_confidence, metavar="X",
                        help="detections at or above X count (default FRAMEWISE_MIN_CONFIDENCE)")


def _progress(done: int, planned: int) -> None:
    print(f"\rframes {done}/{planned}", end="", file=sys.stderr, flush=True)


def _status(text: str | None) -> None:
    """A wait begins or ends (throttling, an outage): say so on its own line."""
    print(f"\n{text}" if text else "\nthe service answers again; going on", file=sys.stderr,
          flush=True)


def cmd_analyze(args, services: Services) -> int:
    from services.analysis import jobs
    from services.upload.ingest import ingest_video

    settings = services.settings
    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"no such file: {args.path}")
    analyzer = args.analyzer or settings.analyzer
    if analyzer == "azure" and not settings.vision_endpoint:
        raise UsageError("--analyzer azure needs AZURE_VISION_ENDPOINT to be set")
    features = parse_features(args.features, "--features") if args.features else ()
    if analyzer == "azure" and not features:
        features = settings.vision_features
    with path.open("rb") as stream:
        # The page's checks and messages: suffix and size before a byte is copied, then probe.
        video = ingest_video(
            services.engine, services.store, stream, filename=path.name,
            uploaded_by=LOCAL_USER, max_bytes=settings.max_upload_mb * 1024 * 1024,
            size=path.stat().st_size,
        )
    plan = estimate(
        _video_info(video), fps=args.fps, max_frames=args.max_frames, analyzer=analyzer,
        price_per_1000=settings.vision_price_per_1000, adaptive=args.adaptive,
    )
    analysis = jobs.queue_analysis(
        services.engine, video_id=video.id, analyzer=analyzer, created_by=LOCAL_USER,
        sample_fps=args.fps, max_frames=args.max_frames, frames_planned=plan.frames,
        features=features, adaptive=args.adaptive, estimated_cost=plan.cost,
    )
    print(f"queued analysis {analysis.id}: {plan.frames} frames", file=sys.stderr)
    return _run_and_report(services, analysis.id, args.no_wait)


def _run_and_report(services: Services, analysis_id: str, no_wait: bool) -> int:
    """Run the analysis here (unless no_wait) and print the one JSON line of the outcome."""
    from services.analysis import jobs
    from services.analysis.progress import frames_failed
    from services.analysis.worker import Worker
    from services.models import Status

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
        return 0 if Status(final.status) != Status.failed else 1
    return 0 if Status(final.status) in (Status.succeeded, Status.queued) else 1


def _video_info(video):
    from services.library import video_info

    return video_info(video)


EXPORT_NAMES = {"frames": "frames.csv", "detections": "detections.csv",
                "segments": "segments.csv", "json": "insights.json"}


def _min_confidence(args, services: Services) -> float:
    """--min-confidence, or FRAMEWISE_MIN_CONFIDENCE (the results page's default)."""
    given = getattr(args, "min_confidence", None)
    return services.settings.min_confidence if given is None else given


def cmd_export(args, services: Services) -> int:
    from services.analysis import jobs
    from services.insights.exports import export_files

    analysis = jobs.get_analysis(services.engine, args.analysis_id)
    if analysis is None:
        raise UsageError(f"no analysis with id {args.analysis_id}")
    asked = {name: Path(getattr(args, name)) for name in EXPORT_NAMES if getattr(args, name)}
    if not asked:  # no file named: all of them, into the current folder
        asked = {name: Path(f"{analysis.id}-{file}") for name, file in EXPORT_NAMES.items()}
    for path in asked.values():  # refuse before writing anything
        if not path.parent.is_dir():
            raise UsageError(f"cannot write {path}: no such folder {path.parent}")
    made = export_files(services.engine, analysis, _min_confidence(args, services), tuple(asked))
    for name, path in asked.items():
        try:
            path.write_bytes(made[name])
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(json.dumps({name: str(path) for name, path in asked.items()}))
    return 0


def cmd_search(args, services: Services) -> int:
    from services.insights.search import search

    if not args.query.strip():
        raise UsageError("the search query is empty")
    found = search(services.engine, args.query, public_url=services.settings.public_url,
                   min_confidence=_min_confidence(args, services),
                   kinds=tuple(args.kind or LABEL_KINDS), limit=args.limit)
    for result in found:
        print(json.dumps(result.document(), ensure_ascii=False))
    return 0


def cmd_compare(args, services: Services) -> int:
    from services.insights.compare import CompareError, compare

    try:
        doc = compare(services.engine, args.a, args.b, _min_confidence(args, services))
    except CompareError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(doc, ensure_ascii=False))
    return 0


def cmd_list(args, services: Services) -> int:
    from services.library import list_analyses

    for analysis, video in list_analyses(services.engine):
        print(
            f"{analysis.id}  {analysis.status:<9}  {analysis.frames_done:>5}/"
            f"{analysis.frames_planned:<5}  {analysis.analyzer:<5}  "
            f"{analysis.created_at:%Y-%m-%d %H:%M}  {video.original_filename}"
        )
    return 0


def cmd_cancel(args, services: Services) -> int:
    from services.analysis import jobs

    if jobs.get_analysis(services.engine, args.analysis_id) is None:
        raise UsageError(f"no analysis with id {args.analysis_id}")
    if not jobs.cancel(services.engine, args.analysis_id):
        raise UsageError("the analysis has already finished")
    print(json.dumps({"analysis_id": args.analysis_id, "status": "cancelled"}))
    return 0


def cmd_retry(args, services: Services) -> int:
    from services.analysis.retry import RetryRefused, retry_analysis

    try:
        analysis = retry_analysis(services.engine, args.analysis_id)
    except RetryRefused as exc:
        raise UsageError(str(exc)) from None
    print(f"queued analysis {analysis.id} again: {analysis.frames_done} of "
          f"{analysis.frames_planned} frames already stored", file=sys.stderr)
    return _run_and_report(services, analysis.id, args.no_wait)


def cmd_worker(args, services: Services) -> int:
    from services.analysis.worker import Worker, WorkerEvent

    def print_event(e: WorkerEvent) -> None:  # one JSON line per event on stdout
        line = {"event": e.event, "worker": e.worker, "analysis_id": e.analysis_id}
        print(json.dumps(line | ({"status": e.status} if e.status else {})), flush=True)

    worker = Worker(engine=services.engine, store=services.store, settings=services.settings,
                    on_event=None if args.once else print_event)
    # SIGTERM (App Service restarts, deploys) or Ctrl-C: stop claiming, hand the running
    # analyses back to the queue at once and exit, so another worker resumes them.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: worker.request_stop(hand_back=True))
    if args.once:
        worker.sweep_temp()
        ran = worker.run_one()
        print(json.dumps({"analysis_id": ran[0], "status": ran[1]} if ran else {}))
        return 0
    log.info("worker %s waiting for analyses (up to %d at once)", worker.owner,
             worker.max_analyses)
    worker.run_forever()
    log.info("worker %s stopped", worker.owner)
    return 0


def cmd_db_grant_identity(args, services: Services | None) -> int:
    from services.sql_grant import grant_identity

    settings = load_settings()
    statements = grant_identity(settings.database_url, args.name, object_id=args.object_id)
    print(json.dumps({"identity": args.name, "statements": len(statements)}))
    return 0


def cmd_db_upgrade(args, services: Services | None) -> int:
    from services.db import make_engine
    from services.migrations import upgrade_schema

    engine = make_engine(load_settings().database_url)
    try:
        before, after = upgrade_schema(engine)
    finally:
        engine.dispose()
    print(json.dumps({"from": before, "to": after}))
    return 0


def _add_db_commands(sub) -> None:
    """`db ...`: database administration; runs without opening the app's services."""
    db = sub.add_parser("db", help="database administration")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    p = db_sub.add_parser("grant-identity",
                          help="create the Azure SQL user of an Entra ID identity (the web app) "
                               "with read, write and DDL roles; as the Azure CLI's signed-in user")
    p.add_argument("name", help="the identity's name: the web app's name for its managed identity")
    p.add_argument("--object-id", help="the identity's principal (object) id, to skip the lookup")
    p.set_defaults(func=cmd_db_grant_identity, opens_services=False)
    p = db_sub.add_parser("upgrade", help="upgrade the schema to the latest revision (Alembic)")
    p.set_defaults(func=cmd_db_upgrade, opens_services=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cli.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("analyze", help="store a video and analyse it")
    p.add_argument("path")
    p.add_argument("--analyzer", choices=["local", "azure"])
    p.add_argument("--fps", type=_positive_float, default=1.0, help="frames sampled per second")
    p.add_argument("--max-frames", type=_positive_int)
    p.add_argument("--features", help="Azure features, comma-separated (default from settings)")
    p.add_argument("--adaptive", action="store_true",
                   help="send to Azure only on new shots, motion, or every "
                        f"{ADAPTIVE_EVERY_S:g} s")
    p.add_argument("--no-wait", action="store_true", help="only queue it for a worker")
    p.set_defaults(func=cmd_analyze)
    p = sub.add_parser("export", help="write the exports asked for (all of them when none is)")
    p.add_argument("analysis_id")
    p.add_argument("--frames", metavar="FILE", help="frames.csv: one row per frame")
    p.add_argument("--detections", metavar="FILE", help="detections.csv: one row per detection")
    p.add_argument("--segments", metavar="FILE", help="segments.csv: one row per label segment")
    p.add_argument("--json", metavar="FILE", help="the insights JSON (schema in the README)")
    _confidence_option(p)
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("search", help="find labels, OCR text and captions in every analysis")
    p.add_argument("query")
    p.add_argument("--kind", action="append", choices=LABEL_KINDS,
                   help="only this kind (repeat for several)")
    p.add_argument("--limit", type=_positive_int, default=50, help="at most N segments")
    _confidence_option(p)
    p.set_defaults(func=cmd_search)
    p = sub.add_parser("compare", help="compare two analyses: settings, metrics, label shares")
    p.add_argument("a")
    p.add_argument("b")
    _confidence_option(p)
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("list", help="list analyses, newest first")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("cancel", help="cancel a queued or running analysis")
    p.add_argument("analysis_id")
    p.set_defaults(func=cmd_cancel)
    p = sub.add_parser("retry", help="queue a failed or cancelled analysis again, continuing "
                       "from its first missing frame")
    p.add_argument("analysis_id")
    p.add_argument("--no-wait", action="store_true", help="only queue it for a worker")
    p.set_defaults(func=cmd_retry)
    p = sub.add_parser("worker", help="run queued analyses")
    p.add_argument("--once", action="store_true", help="run at most one analysis, then exit")
    p.set_defaults(func=cmd_worker)
    _add_db_commands(sub)
    return parser


def _setup_logging(level: str) -> None:
    """Log to stderr at FRAMEWISE_LOG_LEVEL (INFO by default; DEBUG includes the SDKs' logs)."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    if level == "DEBUG":
        # SQLAlchemy mutes itself at import; its statements and pool events are worth seeing.
        logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
        logging.getLogger("sqlalchemy.pool").setLevel(logging.DEBUG)
    else:
        logging.getLogger("azure").setLevel(max(logging.WARNING, logging.getLevelName(level)))
        # Alembic announces its backend on every start; upgrade_schema logs what it changed.
        logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def _one_line(exc: BaseException, settings: Settings | None) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return SecretMask(settings.secrets() if settings else []).mask(message)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = None
    try:
        settings = load_settings()
        _setup_logging(settings.log_level)
        install_secret_masking(settings.secrets())
        opens = getattr(args, "opens_services", True)
        return args.func(args, open_services(settings) if opens else None)
    except (SettingsError, DatabaseUnavailable, StorageError, VideoError, UsageError,
            GrantError) as exc:
        print(f"error: {_one_line(exc, settings)}", file=sys.stderr)
        return 2
    except DatabaseError as exc:
        print(f"error: {_one_line(exc, settings)}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:  # its text holds SQL and row data: name what failed only
        log.debug("database error", exc_info=True)
        print(f"error: {database_error(exc, f'running `{args.command}`')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line for the user; the traceback only at DEBUG
        log.debug("unexpected error", exc_info=True)
        print(f"error: unexpected {type(exc).__name__}: {_one_line(exc, settings)}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
