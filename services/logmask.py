"""Secret values masked in every log record: a second line of defence behind the SDKs' redaction.

The CLI and the Streamlit server (where the production worker runs) both install it once their
settings are known: `install_secret_masking(settings.secrets())`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import quote


class SecretMask(logging.Filter):
    """Replaces each secret (as is and URL-encoded) with *** in a record's message and traceback."""

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        forms = {form for s in secrets if s for form in (s, quote(s, safe=""))}
        self._secrets = sorted(forms, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        record.msg, record.args = self.mask(record.getMessage()), None
        if record.exc_info:
            record.exc_text = self.mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


def install_secret_masking(secrets: Iterable[str], logger: logging.Logger | None = None) -> None:
    """Mask these secrets on every handler of `logger` (the root logger) and of its children
    that have their own handlers (Streamlit's); installing again replaces the earlier mask."""
    mask = SecretMask(secrets)
    loggers = [logger] if logger else [
        logging.getLogger(),
        *(lg for lg in logging.Logger.manager.loggerDict.values()
          if isinstance(lg, logging.Logger) and lg.handlers),
    ]
    for each in loggers:
        for handler in each.handlers:
            for old in [f for f in handler.filters if isinstance(f, SecretMask)]:
                handler.removeFilter(old)
            handler.addFilter(mask)
