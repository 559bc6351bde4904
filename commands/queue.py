"""`list`, `cancel` and `worker`: the queue of analyses and a worker that runs it."""

from __future__ import annotations

import json
import logging
import os
import signal

from commands.args import UsageError
from services.analysis import jobs
from services.analysis.worker import Worker, WorkerEvent
from services.context import Services
from services.health_listener import HealthListener, listener_port
from services.library import list_analyses

log = logging.getLogger("framewise")


def cmd_list(args, services: Services) -> int:
    for analysis, video in list_analyses(services.engine):
        print(
            f"{analysis.id}  {analysis.status:<9}  {analysis.frames_done:>5}/"
            f"{analysis.frames_planned:<5}  {analysis.analyzer:<5}  "
            f"{analysis.created_at:%Y-%m-%d %H:%M}  {video.original_filename}"
        )
    return 0


def cmd_cancel(args, services: Services) -> int:
    if jobs.get_analysis(services.engine, args.analysis_id) is None:
        raise UsageError(f"no analysis with id {args.analysis_id}")
    if not jobs.cancel(services.engine, args.analysis_id):
        raise UsageError("the analysis has already finished")
    print(json.dumps({"analysis_id": args.analysis_id, "status": "cancelled"}))
    return 0


def _print_event(e: WorkerEvent) -> None:
    """One JSON line per worker event on stdout."""
    line = {"event": e.event, "worker": e.worker, "analysis_id": e.analysis_id}
    print(json.dumps(line | ({"status": e.status} if e.status else {})), flush=True)


def cmd_worker(args, services: Services) -> int:
    try:
        port = None if args.once else listener_port(os.environ)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    worker = Worker(engine=services.engine, store=services.store, settings=services.settings,
                    on_event=None if args.once else _print_event)
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
    # On App Service (PORT set) the container must answer HTTP or it is restarted in a loop.
    listener = HealthListener(port).start() if port is not None else None
    try:
        worker.run_forever()
    finally:
        if listener is not None:
            listener.stop()
    log.info("worker %s stopped", worker.owner)
    return 0
