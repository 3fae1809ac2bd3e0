"""What one probe of an inference endpoint found."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Failure(StrEnum):
    """Why a probe did not return a usable answer."""

    TIMEOUT = "timeout"
    REFUSED = "connection refused"
    DNS = "host name does not resolve"
    HTTP_ERROR = "HTTP error"
    BAD_RESPONSE = "malformed response"


@dataclass(frozen=True)
class Probe:
    """One attempt at an endpoint: models it listed, or why it failed."""

    online: bool
    models: tuple[str, ...] = ()
    latency_ms: float | None = None
    failure: Failure | None = None
    detail: str = ""
    http_status: int | None = None
