"""Is ``vast_ai_costs`` silent when it should not be? No data is not $0."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta

from vast_pipelines.domain.insights import Freshness


def judge_freshness(
    latest_request: datetime | None,
    now: datetime,
    same_hour_counts: Sequence[int],
    max_gap: timedelta = timedelta(hours=2),
    min_expected_requests: float = 1.0,
) -> Freshness:
    """Stale when nothing was logged for longer than ``max_gap`` while the same hours of past weeks had traffic.

    ``same_hour_counts``: requests logged in the window ``[now - max_gap, now)`` shifted back 1, 2, 3, 4 weeks.
    A quiet night that is quiet every week is not stale; a table that never had a row is.
    """
    if latest_request is None:
        return Freshness(True, None)
    gap = now - latest_request
    if gap <= max_gap:
        return Freshness(False, latest_request, gap)
    expected = statistics.median(same_hour_counts) if same_hour_counts else 0
    return Freshness(expected >= min_expected_requests, latest_request, gap, expected)


def needs_same_hour_counts(latest_request: datetime | None, now: datetime, max_gap: timedelta) -> bool:
    """Whether ``judge_freshness`` looks at the same hours of past weeks: only when the newest request is older than
    ``max_gap`` (the counts cost an index range per week; a fresh table needs none of them)."""
    return latest_request is not None and now - latest_request > max_gap


def same_hour_windows(now: datetime, max_gap: timedelta, weeks: int = 4) -> list[tuple[datetime, datetime]]:
    """``[now - max_gap, now)`` shifted back 1..``weeks`` weeks: the windows ``judge_freshness`` compares with."""
    return [(now - max_gap - timedelta(weeks=k), now - timedelta(weeks=k)) for k in range(1, weeks + 1)]
