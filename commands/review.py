"""`note` and `review`: an analyst's note at a moment, and a correction of the model's answer.

The author is --user, else FRAMEWISE_USER, else `local` (the app's user without sign-in). Bad
input is one `error:` line with exit code 2, and nothing is written.
"""

from __future__ import annotations

import json
import os

from commands.args import UsageError
from services.access import LOCAL_USER
from services.context import Services
from services.review.base import ReviewError
from services.review.corrections import review_answer, review_detection
from services.review.notes import add_note

USER_VARIABLE = "FRAMEWISE_USER"


def _author(args) -> str:
    return (args.user or os.environ.get(USER_VARIABLE, "")).strip() or LOCAL_USER


def cmd_note(args, services: Services) -> int:
    try:
        note = add_note(services.engine, args.analysis_id, args.at, args.text, _author(args),
                        about=args.about)
    except ReviewError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps({"note_id": note.id, "analysis_id": note.analysis_id, "at_s": note.at_s,
                      "about": note.about, "author": note.author}, ensure_ascii=False))
    return 0


def cmd_review(args, services: Services) -> int:
    try:
        if args.detection is not None:
            done = review_detection(services.engine, args.analysis_id, args.detection,
                                    _author(args), wrong=not args.right)
        else:
            if args.question is None or args.at is None:
                raise UsageError("review needs --at and --question (or --detection)")
            if (args.value is None) == (not args.right):
                raise UsageError("give --value VALUE or --right (the model was right), not both")
            done = review_answer(services.engine, args.analysis_id, args.at, args.question,
                                 _author(args), value=args.value)
    except ReviewError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps({"correction_id": done.id, "analysis_id": args.analysis_id,
                      "frame_index": done.frame_index, "timestamp_s": done.timestamp_s,
                      "question": done.question_key, "detection_id": done.detection_id,
                      "verdict": done.verdict, "number": done.number, "text": done.text,
                      "author": done.author}, ensure_ascii=False))
    return 0
