"""The command line: every command's arguments, and the module and function that run it.

Light on purpose: building the parser imports no service, so `cli.py cancel` does not pay for
pandas or the Azure SDK; `cli.py` imports the one command module that is asked for.
"""

from __future__ import annotations

import argparse

from services.analysis.adaptive import ADAPTIVE_EVERY_S
from services.domain import (
    DEFAULT_SHOT_EVERY_S,
    SEARCH_KINDS,
    AnalyzerKind,
    Export,
    check_sample_fps,
    check_shot_every,
)


class UsageError(Exception):
    """Bad input: reported as one `error:` line with exit code 2."""


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _fps(text: str) -> float:
    try:
        return check_sample_fps(_number(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _every(text: str) -> float:
    try:
        return check_shot_every(_number(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number above 0, got {text!r}")
    return int(text)


def _confidence(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _confidence_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-confidence", type=_confidence, metavar="X",
                        help="detections at or above X count (default FRAMEWISE_MIN_CONFIDENCE)")


def _runs(parser: argparse.ArgumentParser, handler: str, opens_services: bool = True) -> None:
    """`handler` is "module:function" under commands/, imported when the command runs."""
    parser.set_defaults(handler=handler, opens_services=opens_services)


def _add_analysis_commands(sub) -> None:
    p = sub.add_parser("analyze", help="store a video and analyse it")
    p.add_argument("path")
    p.add_argument("--analyzer", choices=[kind.value for kind in AnalyzerKind])
    p.add_argument("--fps", type=_fps, help="frames sampled per second (default 1; with "
                   "--sampling fps)")
    p.add_argument("--sampling", choices=["fps", "shots"], default="fps",
                   help="fps: a fixed rate (--fps); shots: at least one frame per shot plus one "
                        "every --every seconds in longer shots, planned by a shot pass before "
                        "the run (about one decode of the video)")
    p.add_argument("--every", type=_every, metavar="SECONDS",
                   help=f"--sampling shots: a frame per this many seconds of a long shot "
                        f"(default {DEFAULT_SHOT_EVERY_S:g})")
    p.add_argument("--max-frames", type=_positive_int)
    p.add_argument("--features", help="Azure AI Vision features, comma-separated (default from "
                   "settings)")
    p.add_argument("--questions", metavar="FILE",
                   help="--analyzer openai: the questions asked of every frame, a JSON list of "
                        "{key, text, type, choices} (required for openai)")
    p.add_argument("--no-caption", action="store_true",
                   help="--analyzer openai: no caption per frame")
    p.add_argument("--no-tags", action="store_true", help="--analyzer openai: no tags per frame")
    p.add_argument("--adaptive", action="store_true",
                   help="send to Azure only on new shots, motion, or every "
                        f"{ADAPTIVE_EVERY_S:g} s")
    p.add_argument("--full-shot-pass", action="store_true",
                   help="when sampling is sparse enough to seek (a frame per 150 source frames "
                        "or fewer), also decode every frame once to find shots at frame precision "
                        "(costs about a plain decode of the video)")
    p.add_argument("--no-wait", action="store_true", help="only queue it for a worker")
    _runs(p, "analyze:cmd_analyze")
    p = sub.add_parser("retry", help="queue a failed or cancelled analysis again, continuing "
                       "from its first missing frame")
    p.add_argument("analysis_id")
    p.add_argument("--no-wait", action="store_true", help="only queue it for a worker")
    _runs(p, "analyze:cmd_retry")


def _add_insight_commands(sub) -> None:
    p = sub.add_parser("export", help="write the exports asked for (all of them when none is)")
    p.add_argument("analysis_id")
    for export in Export:
        p.add_argument(f"--{export}", metavar="FILE", help=f"{export.file_name}: {export.about}")
    _confidence_option(p)
    _runs(p, "insights:cmd_export")
    p = sub.add_parser("clip", help="write a range of the analysed video as an MP4, exact to "
                       "the frame")
    p.add_argument("analysis_id")
    p.add_argument("--start", type=_number, required=True, metavar="SECONDS")
    p.add_argument("--end", type=_number, required=True, metavar="SECONDS")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    _runs(p, "clip:cmd_clip")
    p = sub.add_parser("search", help="find labels, OCR text, captions, answers and notes in "
                       "every analysis")
    p.add_argument("query")
    p.add_argument("--kind", action="append", choices=[kind.value for kind in SEARCH_KINDS],
                   help="only this kind (repeat for several)")
    p.add_argument("--limit", type=_positive_int, default=50, help="at most N segments")
    _confidence_option(p)
    _runs(p, "insights:cmd_search")
    p = sub.add_parser("compare", help="compare two analyses: settings, metrics, label shares")
    p.add_argument("a")
    p.add_argument("b")
    _confidence_option(p)
    _runs(p, "insights:cmd_compare")


def _add_review_commands(sub) -> None:
    user = {"help": "the author (default FRAMEWISE_USER, else local)"}
    p = sub.add_parser("note", help="pin a note to a moment of an analysis")
    p.add_argument("analysis_id")
    p.add_argument("text")
    p.add_argument("--at", type=_number, required=True, metavar="SECONDS")
    p.add_argument("--about", metavar="KEY_OR_LABEL", help="the question or label it is about")
    p.add_argument("--user", **user)
    _runs(p, "review:cmd_note")
    p = sub.add_parser("review", help="correct the model's answer on the frame nearest a moment "
                       "(or mark an Image Analysis detection wrong)")
    p.add_argument("analysis_id")
    p.add_argument("--at", type=_number, metavar="SECONDS")
    p.add_argument("--question", metavar="KEY")
    p.add_argument("--value", help="the right answer (yes/no, a count, a choice, a score, a "
                   "number, a text, or cannot_tell)")
    p.add_argument("--right", action="store_true",
                   help="the model's answer is right (with --detection: the detection is)")
    p.add_argument("--detection", type=_positive_int, metavar="ID",
                   help="mark this detection wrong (or right, with --right)")
    p.add_argument("--user", **user)
    _runs(p, "review:cmd_review")


def _add_queue_commands(sub) -> None:
    p = sub.add_parser("list", help="list analyses, newest first")
    _runs(p, "queue:cmd_list")
    p = sub.add_parser("cancel", help="cancel a queued or running analysis")
    p.add_argument("analysis_id")
    _runs(p, "queue:cmd_cancel")
    p = sub.add_parser("worker", help="run queued analyses")
    p.add_argument("--once", action="store_true", help="run at most one analysis, then exit")
    _runs(p, "queue:cmd_worker")


def _add_db_commands(sub) -> None:
    """`db ...`: database administration; runs without opening the app's services."""
    db = sub.add_parser("db", help="database administration")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    p = db_sub.add_parser("grant-identity",
                          help="create the Azure SQL user of an Entra ID identity (the web app) "
                               "with read, write and DDL roles; as the Azure CLI's signed-in user")
    p.add_argument("name", help="the identity's name: the web app's name for its managed identity")
    p.add_argument("--object-id", help="the identity's principal (object) id, to skip the lookup")
    p.add_argument("--client-id",
                   help="an application's or managed identity's client id: create the user from "
                        "its SID (no directory lookup), leave alone a user that has it, replace "
                        "one of the same name that does not")
    p.add_argument("--admin-id", help="object id of the SQL administrator azd deployed as: the "
                                      "Azure CLI must be signed in as it")
    p.add_argument("--open-firewall", metavar="RESOURCE_GROUP",
                   help="when the server refuses this machine, add a rule for its address with "
                        "`az` for the grant's duration (the server is in this resource group)")
    p.add_argument("--wait", type=_number, default=300.0, metavar="SECONDS",
                   help="how long to wait out a paused database or a new firewall rule "
                        "(default 300)")
    _runs(p, "db:cmd_grant_identity", opens_services=False)
    p = db_sub.add_parser("upgrade", help="upgrade the schema to the latest revision (Alembic)")
    _runs(p, "db:cmd_upgrade", opens_services=False)


def build_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cli.py", description=description)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_analysis_commands(sub)
    _add_insight_commands(sub)
    _add_review_commands(sub)
    _add_queue_commands(sub)
    _add_db_commands(sub)
    return parser
