"""Whether cost data went silent, as the health check and the budget, runaway and freshness sensors all ask it:
the store reads ``vast_ai_costs``, the policy judges."""

from datetime import datetime, timedelta

from vast_pipelines.domain.insights import Freshness
from vast_pipelines.domain.thresholds import Thresholds
from vast_pipelines.policy.freshness import judge_freshness, same_hour_windows
from vast_pipelines.resources.database import AnalyticsDatabase

# The same hours of this many past weeks say how quiet the table may be.
FRESHNESS_WEEKS = 4


def cost_freshness(database: AnalyticsDatabase, now: datetime, limits: Thresholds) -> Freshness:
    """``vast_ai_costs``'s newest row against the same hours of the last 4 weeks."""
    gap = timedelta(minutes=limits.freshness_max_gap_minutes)
    activity = database.costs.activity(now, same_hour_windows(now, gap, FRESHNESS_WEEKS))
    return judge_freshness(
        activity.latest_request, now, activity.window_requests, gap, limits.freshness_min_expected_requests
    )
