"""Headless Framewise (no Streamlit): analyze, export, search, compare, note, review, queue.

The queue: list, cancel, retry and worker.

Exit codes: 0 success, 1 the analysis or a database statement failed, 2 bad input or settings
(either way one line `error: ...`).
The last line `analyze` prints on stdout is one JSON object; progress goes to stderr.
The commands live in commands/, one module per group; this file maps their errors to exit codes.
"""

from __future__ import annotations

import importlib
import logging
import sys

from sqlalchemy.exc import SQLAlchemyError

from commands.args import UsageError, build_parser
from services.config import Settings, SettingsError, load_settings
from services.context import open_services
from services.db import DatabaseError, DatabaseUnavailable, database_error
from services.logmask import SecretMask, install_secret_masking
from services.sql_grant import GrantError
from services.storage.base import StorageError
from services.video.probe import VideoError

log = logging.getLogger("framewise")


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
    args = build_parser(__doc__.splitlines()[0]).parse_args(argv)
    settings = None
    try:
        settings = load_settings()
        _setup_logging(settings.log_level)
        install_secret_masking(settings.secrets())
        module, function = args.handler.split(":")
        run = getattr(importlib.import_module(f"commands.{module}"), function)
        return run(args, open_services(settings) if args.opens_services else None)
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
