"""Whether cost data went silent, as the health check and the budget, runaway and freshness sensors all ask it:
the store reads ``vast_ai_costs``, the policy judges."""

from datetime import datetime, timedelta

from vast_pipelines.domain.insights import Freshness
from vast_pipelines.domain.spend import SpendSummary
from vast_pipelines.domain.thresholds import Thresholds
from vast_pipelines.policy.freshness import judge_freshness, needs_same_hour_counts, same_hour_windows
from vast_pipelines.resources.database import AnalyticsDatabase

# The same hours of this many past weeks say how quiet the table may be.
FRESHNESS_WEEKS = 4


def cost_freshness(
    database: AnalyticsDatabase, now: datetime, limits: Thresholds, spend: SpendSummary | None = None
) -> Freshness:
    """``vast_ai_costs``'s newest row against the same hours of the last 4 weeks.

    ``spend``: a spend summary read at ``now`` (its ``latest_request`` is that newest row), so a per-minute tick
    reads nothing more. The past weeks are counted only when the newest row is older than the gap allowed.
    """
    gap = timedelta(minutes=limits.freshness_max_gap_minutes)
    latest = spend.latest_request if spend is not None else database.costs.latest_request(now)
    counts = (
        database.costs.window_requests(same_hour_windows(now, gap, FRESHNESS_WEEKS))
        if needs_same_hour_counts(latest, now, gap)
        else []
    )
    return judge_freshness(latest, now, counts, gap, limits.freshness_min_expected_requests)
