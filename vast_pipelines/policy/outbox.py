"""Which outbox messages are old news: each kind's maximum age."""

from __future__ import annotations

from vast_pipelines.domain.outbox import MaxAges
from vast_pipelines.domain.thresholds import Thresholds


def max_ages(limits: Thresholds) -> MaxAges:
    """``alert_max_age_hours`` / ``report_max_age_hours`` (VAST_PIPELINES_THRESHOLDS) in seconds."""
    return MaxAges(limits.alert_max_age_hours * 3600.0, limits.report_max_age_hours * 3600.0)
