"""The Image Analysis SDK client on a requests session whose every attempt waits for the throttle.

Imported when an AzureAnalyzer is made, not with services/vision/azure.py: the SDK, azure-core
and requests take about 0.15 s to import, which a process that never calls Azure should not pay.
"""

from __future__ import annotations

from collections.abc import Callable

import requests
from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.core.pipeline.policies import RetryPolicy
from azure.core.pipeline.transport import RequestsTransport
from urllib3.util.retry import Retry


def paced_client(endpoint: str, credential, *, start: Callable[[], None],
                 pool_size: int) -> ImageAnalysisClient:
    """A client that calls `start` right before each request goes out, and never retries."""
    session = requests.Session()
    # A connection pool as large as our parallelism, and no hidden retries in urllib3.
    adapter = PacedAdapter(start, pool_maxsize=pool_size,
                           max_retries=Retry(total=False, redirect=False))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return ImageAnalysisClient(
        endpoint,
        credential,
        retry_policy=RetryPolicy(retry_total=0),  # attempts are paced and counted by the caller
        transport=RequestsTransport(session=session, session_owner=True),
    )


class PacedAdapter(requests.adapters.HTTPAdapter):
    """Takes the throttle's slot right before each request goes on the wire.

    Every attempt, retries included, passes here; waiting this late keeps the SDK's own work
    (and any thread stalls in it) from bunching requests that the limiter had spaced out. A
    cancel raises Cancelled in `start`, so an abandoned call sends nothing more.
    """

    def __init__(self, start: Callable[[], None], **kwargs):
        super().__init__(**kwargs)
        self._start = start

    def send(self, request, *args, **kwargs):
        self._start()
        return super().send(request, *args, **kwargs)
