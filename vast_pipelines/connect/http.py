"""Bounded retries with exponential backoff for httpx, and failure classification."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import UTC
from email.utils import parsedate_to_datetime

import httpx

from vast_pipelines import clock
from vast_pipelines.domain.health import Failure

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The server's ``Retry-After`` (seconds, or an HTTP date) in seconds, if it sent one."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - clock.now()).total_seconds(), 0.0)


def request_with_backoff(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    attempts: int,
    first_delay: float,
    factor: float,
    sleep: Callable[[float], None] = time.sleep,
    retry_errors: bool = True,
    max_wait_seconds: float = 0.0,
    max_delay_seconds: float = 60.0,
    **kwargs,
) -> httpx.Response:
    """Send a request, retrying 429 and (``retry_errors``) transport errors and 5xx, with back-off.

    A ``Retry-After`` is honoured (up to ``max_delay_seconds`` per wait). Retries stop after ``attempts`` unless
    less than ``max_wait_seconds`` was waited so far (an emergency call rides out a minute of 429s).
    ``retry_errors=False`` is for calls that must not be repeated blindly (a create): a 5xx or a timeout may
    have done the work, so only a 429 (refused, nothing done) is retried and the caller checks the rest.
    The last response (even a 429/5xx) is returned, and the last transport error is raised, so the caller
    words the failure.
    """
    delay, waited, attempt = first_delay, 0.0, 0
    while True:
        attempt += 1
        done = attempt >= attempts and waited >= max_wait_seconds
        try:
            response = client.request(method, url, **kwargs)
        except httpx.TransportError:
            if done or not retry_errors:
                raise
            wait = delay
        else:
            status = response.status_code
            retryable = status == 429 or (retry_errors and status in RETRY_STATUSES)
            if done or not retryable:
                return response
            wait = max(delay, retry_after_seconds(response) or 0.0)
        wait = min(wait, max_delay_seconds)
        sleep(wait)
        waited += wait
        delay = min(delay * factor, max_delay_seconds)


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
