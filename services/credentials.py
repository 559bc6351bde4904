"""One place that builds the Entra ID credential for Blob, Vision and SQL."""

from __future__ import annotations

import logging
from functools import lru_cache

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def default_credential():
    """DefaultAzureCredential: managed identity on App Service, developer login on a laptop."""
    from azure.identity import DefaultAzureCredential

    log.info("using DefaultAzureCredential (managed identity or developer sign-in)")
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)
