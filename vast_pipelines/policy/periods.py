"""Day, month and rolling-window boundaries in the operator's timezone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Periods:
    """The windows the guide's queries use, as aware datetimes."""

    now: datetime
    rolling_24h_start: datetime
    today_start: datetime
    previous_day_start: datetime
    month_start: datetime
    next_month_start: datetime
    last_7_days_start: datetime  # the last 7 complete local days: [this, today_start)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """Midnight of ``day`` in ``tz`` (DST-safe: midnight exists in every zone we support)."""
    return datetime.combine(day, time(0), tzinfo=tz)


def periods_at(now: datetime, tz: ZoneInfo) -> Periods:
    """Windows for the health check and reports at ``now``, day boundaries in ``tz``."""
    local_now = now.astimezone(tz)
    today = local_now.date()
    first = today.replace(day=1)
    next_first = (first + timedelta(days=32)).replace(day=1)
    return Periods(
        now=now,
        rolling_24h_start=now - timedelta(days=1),
        today_start=local_midnight(today, tz),
        previous_day_start=local_midnight(today - timedelta(days=1), tz),
        month_start=local_midnight(first, tz),
        next_month_start=local_midnight(next_first, tz),
        last_7_days_start=local_midnight(today - timedelta(days=7), tz),
    )
