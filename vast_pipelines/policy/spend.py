"""The guide's spend verdicts (a day's band, a month against the budget) and a month-end forecast."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from vast_pipelines.domain.costs import CostTotals
from vast_pipelines.domain.periods import Periods
from vast_pipelines.domain.thresholds import GUIDE, Thresholds
from vast_pipelines.policy.costs import DayCost


class DailyVerdict(StrEnum):
    """The "Interpret Results" bands for one day's spend."""

    EXCELLENT = "excellent"
    MODERATE = "moderate"
    HIGH = "high"
    NO_DATA = "no data"
    UNKNOWN = "unknown"


def daily_verdict(
    daily_cost: float | None, requests: int, limits: Thresholds = GUIDE, stale: bool = False
) -> DailyVerdict:
    """Band a day's spend; a day with no logged requests is "no data", never "excellent"; while cost data is
    ``stale`` (agent-router stopped logging) a band would judge missing requests, so it is "unknown"."""
    if requests == 0 or daily_cost is None:
        return DailyVerdict.NO_DATA
    if stale:
        return DailyVerdict.UNKNOWN
    if daily_cost < limits.daily_excellent_below:
        return DailyVerdict.EXCELLENT
    if daily_cost < limits.daily_moderate_below:
        return DailyVerdict.MODERATE
    return DailyVerdict.HIGH


def day_verdict(day: DayCost, limits: Thresholds = GUIDE, stale: bool = False) -> DailyVerdict:
    """The guide's band for one day of the month."""
    cost = float(day.totals.cost) if day.has_data and day.totals.cost is not None else None
    return daily_verdict(cost, day.totals.requests, limits, stale=stale)


@dataclass(frozen=True)
class Forecast:
    """Month-end spend projected from the last 7 days' run rate."""

    month_to_date: float
    daily_run_rate: float
    days_left: float
    month_end: float
    hard_cap_date: date | None


def forecast_month_end(
    month_to_date: float, last_7_days_cost: float, periods: Periods, limits: Thresholds = GUIDE
) -> Forecast:
    """Month-to-date plus the daily rate of the last 7 complete days over what is left of the month."""
    rate = last_7_days_cost / 7.0
    seconds_left = max((periods.next_month_start - periods.now).total_seconds(), 0.0)
    days_left = seconds_left / 86400.0
    month_end = month_to_date + rate * days_left
    return Forecast(
        month_to_date=month_to_date,
        daily_run_rate=rate,
        days_left=days_left,
        month_end=month_end,
        hard_cap_date=hard_cap_date(month_to_date, rate, periods, limits),
    )


def hard_cap_date(month_to_date: float, daily_rate: float, periods: Periods, limits: Thresholds = GUIDE) -> date | None:
    """The local date this month when spend reaches the hard cap at ``daily_rate``; None if it will not."""
    tz = periods.month_start.tzinfo
    if month_to_date >= limits.hard_cap:
        return periods.now.astimezone(tz).date()
    if daily_rate <= 0:
        return None
    at: datetime = periods.now + timedelta(days=(limits.hard_cap - month_to_date) / daily_rate)
    if at >= periods.next_month_start:
        return None
    return at.astimezone(tz).date()


class BudgetVerdict(StrEnum):
    """The Monthly Review's "Compare to budget"."""

    ON_TARGET = "on target"
    ACCEPTABLE = "acceptable"
    OVER_BUDGET = "over budget"
    NO_DATA = "no data"


def budget_verdict(totals: CostTotals, limits: Thresholds = GUIDE) -> BudgetVerdict:
    """Target below ``budget_target``, acceptable up to ``budget_alert``, over budget above it."""
    if not totals.has_cost:
        return BudgetVerdict.NO_DATA
    cost = float(totals.cost or 0)
    if cost < limits.budget_target:
        return BudgetVerdict.ON_TARGET
    if cost <= limits.budget_alert:
        return BudgetVerdict.ACCEPTABLE
    return BudgetVerdict.OVER_BUDGET


def forecast_budget_verdict(forecast: Forecast, limits: Thresholds = GUIDE) -> BudgetVerdict:
    """The month-end forecast against the budget, banded as a finished month would be."""
    cost = Decimal(str(forecast.month_end))
    return budget_verdict(CostTotals(requests=1, cost=cost), limits)


def month_off_track(day: DailyVerdict, outlook: BudgetVerdict) -> bool:
    """Whether the month's forecast overrules a day "on track": the guide's band speaks of one day's rate, and a
    month heading past the target is not on track whatever that day's band."""
    return day in (DailyVerdict.EXCELLENT, DailyVerdict.MODERATE) and outlook in (
        BudgetVerdict.ACCEPTABLE,
        BudgetVerdict.OVER_BUDGET,
    )
