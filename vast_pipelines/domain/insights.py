"""Insight figures both the database code and the decisions use: cost-data freshness, a day against the bill."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class Freshness:
    """Whether cost data is stale, since when, and why we think so."""

    stale: bool
    since: datetime | None
    reason: str


@dataclass(frozen=True)
class DayReconciliation:
    """One day's logged cost against the serverless charges Vast.ai billed."""

    day: date
    logged: float
    billed: float | None
    difference: float | None
    share: float | None
    diverged: bool
