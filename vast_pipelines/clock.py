"""The current time, read in one place so a sensor tick or a job can be evaluated as of a given moment."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)
