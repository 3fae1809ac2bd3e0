"""Insight figures both the database code and the decisions use: cost-data freshness, a day against the bill."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class Freshness:
    """Whether cost data is stale and since when (the latest logged request; None: no row at all), with the figures
    that say so: how long nothing was logged, and, when that is longer than allowed, the requests the same hours of
    past weeks had (median)."""

    stale: bool
    since: datetime | None
    gap: timedelta | None = None
    expected: float | None = None


@dataclass(frozen=True)
class DayReconciliation:
    """One day's logged cost against the serverless charges Vast.ai billed."""

    day: date
    logged: float
    billed: float | None
    difference: float | None
    share: float | None
    diverged: bool
