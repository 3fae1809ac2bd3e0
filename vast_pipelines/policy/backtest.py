"""Alert-rule backtest: replay past spend through the budget levels and the runaway/hard-cap triggers.

The rules are the sensors' own (``crossed_levels`` and ``emergency_triggers``), applied to spend as it
accumulated; thresholds can then be tuned before they wake anyone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from vast_pipelines.domain.spend import SpendSummary
from vast_pipelines.domain.thresholds import GUIDE, Thresholds
from vast_pipelines.policy.alerts import crossed_levels, level_thresholds
from vast_pipelines.policy.emergency import emergency_triggers


@dataclass(frozen=True)
class Firing:
    """When one rule would have fired: ``rule`` is ``budget_<level>``, ``runaway`` or ``hard_cap``."""

    rule: str
    key: str
    at: datetime
    spend: float
    threshold: float


def candidate_days(daily: Sequence[tuple[date, float]], limits: Thresholds = GUIDE) -> list[date]:
    """Days (in order) on which some rule fires, from whole-day totals: only these need intraday data."""
    thresholds = [threshold for _, threshold in level_thresholds(limits)] + [limits.hard_cap]
    days, month, month_to_date = [], None, 0.0
    for day, cost in sorted(daily):
        if (day.year, day.month) != month:
            month, month_to_date = (day.year, day.month), 0.0
        before, month_to_date = month_to_date, month_to_date + cost
        if cost > limits.runaway_daily or any(before < level <= month_to_date for level in thresholds):
            days.append(day)
    return days


def _spend(today: float, month_to_date: float) -> SpendSummary:
    return SpendSummary(0.0, 0, 0.0, 0, today, 1, month_to_date, 1, 0.0)


def backtest(
    daily: Sequence[tuple[date, float]],
    intraday: Mapping[date, Sequence[tuple[datetime, float]]],
    day_end: Mapping[date, datetime],
    limits: Thresholds = GUIDE,
) -> list[Firing]:
    """Every firing over ``daily`` (whole months from their 1st), at the moment spend crossed the rule.

    ``intraday``: a day's spend in time order (e.g. per minute) for the candidate days; a candidate day
    without it is judged at ``day_end``. Like the sensors, a budget level fires once per month, a runaway
    once per day and the hard cap once per month.
    """
    levels = dict(level_thresholds(limits))
    fired: set[str] = set()
    firings: list[Firing] = []
    month, month_to_date = None, 0.0
    for day, cost in sorted(daily):
        if (day.year, day.month) != month:
            month, month_to_date = (day.year, day.month), 0.0
        points = intraday.get(day) or [(day_end[day], cost)]
        today = 0.0
        for at, amount in points:
            today += amount
            month_to_date += amount
            for level in crossed_levels(month_to_date, limits):
                key = f"budget:{day:%Y-%m}:{level.value}"
                if key not in fired:
                    fired.add(key)
                    firings.append(Firing(f"budget_{level.value}", key, at, month_to_date, levels[level]))
            for trigger in emergency_triggers(_spend(today, month_to_date), day, limits):
                if trigger.run_key not in fired:
                    fired.add(trigger.run_key)
                    firings.append(Firing(trigger.reason.value, trigger.run_key, at, trigger.spend, trigger.threshold))
        # Whole-day totals decide the month: intraday points of a day add up to its total.
        month_to_date += cost - today
    return firings
