"""The digest of messages that expired undelivered (old news is summarised, never posted one by one)."""

from __future__ import annotations

from vast_pipelines.domain.outbox import ExpiredDigest, MaxAges
from vast_pipelines.reports.alerts import Message


def _hours(seconds: float) -> str:
    hours = seconds / 3600.0
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


def expired_digest(found: ExpiredDigest, ages: MaxAges) -> Message:
    """One message saying what expired unposted, and where to read it."""
    kinds = ", ".join(f"{count} {kind}" for kind, count in found.by_kind)
    text = (
        f":hourglass: {found.count} queued message(s) were never delivered and are now too old to post "
        f"(oldest {_hours(found.oldest_seconds)}): {kinds}. They are marked `expired` in "
        f"`vast_pipelines.notification_outbox` (ids {found.first_id}–{found.last_id}); read them there if they "
        f"still matter. Alerts and incidents expire after {_hours(ages.alert_seconds)}, reports after "
        f"{_hours(ages.report_seconds)} (alert_max_age_hours, report_max_age_hours in VAST_PIPELINES_THRESHOLDS)."
    )
    return Message(subject=f"[vast_pipelines] {found.count} old message(s) expired unposted", text=text)
