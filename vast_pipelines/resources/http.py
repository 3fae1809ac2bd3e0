"""Bounded retries with exponential backoff for httpx, and failure classification."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx

from vast_pipelines.policy.health import Failure

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def request_with_backoff(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    attempts: int,
    first_delay: float,
    factor: float,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs,
) -> httpx.Response:
    """Send a request, retrying transport errors and 429/5xx up to ``attempts`` times.

    The last response (even a 429/5xx) is returned, and the last transport error is raised, so the
    caller words the failure.
    """
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            response = client.request(method, url, **kwargs)
        except httpx.TransportError:
            if attempt == attempts:
                raise
        else:
            if response.status_code not in RETRY_STATUSES or attempt == attempts:
                return response
        sleep(delay)
        delay *= factor
    raise AssertionError("unreachable")


def classify_transport_error(exc: httpx.TransportError) -> Failure:
    """Timeout, refused connection, or a host name that does not resolve."""
    if isinstance(exc, httpx.TimeoutException):
        return Failure.TIMEOUT
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return Failure.DNS
        cause = cause.__cause__ or cause.__context__
    text = str(exc).lower()
    if "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
        return Failure.DNS
    return Failure.REFUSED
