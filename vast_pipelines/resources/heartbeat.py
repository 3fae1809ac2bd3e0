"""The dead-man's switch: a ping to an outside monitor (Healthchecks.io, Cronitor) after each good protection tick.

When the pings stop (the daemon, the code location or the database is down), that service pages on-call: the one
failure the pipelines cannot report themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import httpx
from pydantic import Field


@dataclass(frozen=True)
class Ping:
    """What one ping did: sent (and answered 2xx), or why not. Never carries the URL (it is a secret)."""

    sent: bool
    detail: str


class HeartbeatResource(dg.ConfigurableResource):
    """``HEARTBEAT_URL``: pinged with an HTTP GET after each good ``runaway_cost_sensor`` tick."""

    url: str | None = Field(
        default=None,
        description="HEARTBEAT_URL, e.g. https://hc-ping.com/<uuid>; unset: no heartbeat. Set the monitor's period "
        "to the tick's (1 min) and a grace of a few minutes.",
    )
    timeout_seconds: float = Field(default=5.0, description="Short: a slow monitor must not slow the protection.")

    def ping(self) -> Ping:
        """One GET; a failure is returned (for the log), never raised."""
        if not self.url:
            return Ping(False, "HEARTBEAT_URL is not set")
        try:
            response = httpx.get(self.url, timeout=self.timeout_seconds)
        except httpx.HTTPError as exc:
            return Ping(False, f"heartbeat not sent: {type(exc).__name__}")
        if response.status_code >= 300:
            return Ping(False, f"heartbeat answered HTTP {response.status_code}")
        return Ping(True, "heartbeat sent")
