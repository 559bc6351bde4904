"""`export`, `search` and `compare`: what the rows say, at one minimum confidence."""

from __future__ import annotations

import json
from pathlib import Path

from commands.args import UsageError
from services.analysis.jobs import get_analysis
from services.context import Services
from services.domain import SEARCH_KINDS, Export
from services.insights.compare import CompareError, compare
from services.insights.exports import analysis_exports, export_files
from services.insights.search import search
from services.vision.openai_results import frame_prices


def _min_confidence(args, services: Services) -> float:
    """--min-confidence, or FRAMEWISE_MIN_CONFIDENCE (the results page's default)."""
    given = getattr(args, "min_confidence", None)
    return services.settings.min_confidence if given is None else given


def cmd_export(args, services: Services) -> int:
    analysis = get_analysis(services.engine, args.analysis_id)
    if analysis is None:
        raise UsageError(f"no analysis with id {args.analysis_id}")
    has = analysis_exports(analysis)
    asked = {export: Path(getattr(args, export)) for export in Export if getattr(args, export)}
    if not asked:  # no file named: all the analysis has, into the current folder
        asked = {export: Path(f"{analysis.id}-{export.file_name}") for export in has}
    for export, path in asked.items():  # refuse before writing anything
        if export not in has and export.analyzer is not None:
            raise UsageError(f"--{export}: only {export.analyzer.label} analyses have "
                             f"{export.file_name}; this one used the {analysis.analyzer.label} "
                             "analyser")
        if not path.parent.is_dir():
            raise UsageError(f"cannot write {path}: no such folder {path.parent}")
    made = export_files(services.engine, analysis, _min_confidence(args, services), tuple(asked),
                        prices=frame_prices(services.settings))
    for name, path in asked.items():
        try:
            path.write_bytes(made[name])
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(json.dumps({name: str(path) for name, path in asked.items()}))
    return 0


def cmd_search(args, services: Services) -> int:
    if not args.query.strip():
        raise UsageError("the search query is empty")
    found = search(services.engine, args.query, public_url=services.settings.public_url,
                   min_confidence=_min_confidence(args, services),
                   kinds=tuple(args.kind or SEARCH_KINDS), limit=args.limit)
    for result in found:
        print(json.dumps(result.document(), ensure_ascii=False))
    return 0


def cmd_compare(args, services: Services) -> int:
    try:
        comparison = compare(services.engine, args.a, args.b, _min_confidence(args, services))
    except CompareError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(comparison.document(), ensure_ascii=False))
    return 0
