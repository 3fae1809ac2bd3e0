"""The guide's Weekly and Monthly Reviews: a period's figures, its forecast and budget verdict, its concerns and
what to change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from vast_pipelines.domain.costs import CostTotals, HistoryRow
from vast_pipelines.domain.periods import local_midnight, periods_at
from vast_pipelines.domain.thresholds import GUIDE, Thresholds
from vast_pipelines.policy.costs import DayCost, ModelCost, daily_costs, first_day_reaching, model_costs, sum_days
from vast_pipelines.policy.recommendations import (
    ColdStartEconomics,
    Recommendation,
    cold_start_economics,
    optimization_plan,
    weekly_opportunities,
)
from vast_pipelines.policy.spend import BudgetVerdict, Forecast, budget_verdict, forecast_month_end


class ConcernKind(StrEnum):
    """What about a period's figures an operator should look at."""

    HIGH_DAYS = "high_days"
    NOT_ROLLED_UP = "not_rolled_up"
    NO_COST_LOGGED = "no_cost_logged"
    NULL_COSTS = "null_costs"
    INVALID_COSTS = "invalid_costs"
    NEGATIVE_COSTS = "negative_costs"
    OTHER_ZONE = "other_zone"
    HARD_CAP_REACHED = "hard_cap_reached"
    HARD_CAP_AHEAD = "hard_cap_ahead"
    FORECAST_OVER_ALERT = "forecast_over_alert"
    OVER_BUDGET = "over_budget"


@dataclass(frozen=True)
class Concern:
    """One concern with its figures: the days it is about, a count of requests, an amount (USD) and the limit
    (USD) it is measured against, the time zone."""

    kind: ConcernKind
    days: tuple[date, ...] = ()
    count: int = 0
    amount: float | None = None
    limit: float | None = None
    zone: str = ""


@dataclass(frozen=True)
class Review:
    """A week or month of the cost history with everything the reports say about it."""

    kind: str
    first: date
    end: date
    days: list[DayCost]
    totals: CostTotals
    previous: CostTotals | None
    models: list[ModelCost]
    cold_starts: list[ColdStartEconomics]
    recommendations: list[Recommendation]
    concerns: list[Concern]
    forecast: Forecast | None = None
    budget: BudgetVerdict | None = None
    target_reached_on: date | None = None
    hard_cap_reached_on: date | None = None

    @property
    def last(self) -> date:
        """The period's last day."""
        return self.end - timedelta(days=1)


def week_after(first: date) -> date:
    """The day after a week that starts on ``first``."""
    return first + timedelta(days=7)


def month_after(first: date) -> date:
    """The first day of the month after ``first``'s."""
    return (first.replace(day=1) + timedelta(days=32)).replace(day=1)


def month_before(first: date) -> date:
    """The first day of the month before ``first``'s."""
    return (first.replace(day=1) - timedelta(days=1)).replace(day=1)


def weekly_history_range(week_start: date) -> tuple[date, date]:
    """The days a weekly review reads: the previous week and, for the forecast, its month so far."""
    end = week_after(week_start)
    return min(week_start - timedelta(days=7), end.replace(day=1)), end


def monthly_history_range(month_start: date) -> tuple[date, date]:
    """The days a monthly review reads: the month and the month before (for the comparison)."""
    return month_before(month_start), month_after(month_start)


def _previous(rows: list[HistoryRow], rolled_up: set[date], first: date, end: date) -> CostTotals | None:
    days = daily_costs(rows, rolled_up, first, end)
    return sum_days(days) if all(d.rolled_up for d in days) else None


def _common_concerns(days: list[DayCost], totals: CostTotals, other_zone_days: list[date], zone: str) -> list[Concern]:
    concerns = []
    missing = tuple(d.day for d in days if not d.rolled_up)
    if missing:
        concerns.append(Concern(ConcernKind.NOT_ROLLED_UP, missing))
    empty = tuple(d.day for d in days if d.rolled_up and not d.has_data)
    if empty:
        concerns.append(Concern(ConcernKind.NO_COST_LOGGED, empty))
    if totals.null_cost_requests:
        concerns.append(Concern(ConcernKind.NULL_COSTS, count=totals.null_cost_requests))
    if totals.invalid_cost_requests:
        concerns.append(Concern(ConcernKind.INVALID_COSTS, count=totals.invalid_cost_requests))
    if totals.negative_cost_requests:
        credit = float(totals.credit_cost) if totals.credit_cost is not None else None
        concerns.append(Concern(ConcernKind.NEGATIVE_COSTS, count=totals.negative_cost_requests, amount=credit))
    if other_zone_days:
        concerns.append(Concern(ConcernKind.OTHER_ZONE, tuple(other_zone_days), zone=zone))
    return concerns


def weekly_review(
    rows: list[HistoryRow],
    rolled_up: set[date],
    week_start: date,
    tz: ZoneInfo,
    limits: Thresholds = GUIDE,
    other_zone_days: list[date] | None = None,
) -> Review:
    """The Weekly Review of the week starting ``week_start`` (a Monday) from the history rows.

    The forecast is made as of the week's end: the month-to-date then, plus the week's daily rate over the
    rest of that month, and the day the hard cap would be hit.
    """
    end = week_after(week_start)
    days = daily_costs(rows, rolled_up, week_start, end)
    totals = sum_days(days)
    models = model_costs(rows, week_start, end)
    periods = periods_at(local_midnight(end, tz), tz)
    month_first = periods.month_start.date()
    month_days = daily_costs(rows, rolled_up, month_first, end)
    month_to_date = sum_days(month_days).cost or Decimal(0)
    cap_reached_on = first_day_reaching(month_days, limits.hard_cap)
    forecast = (
        forecast_month_end(float(month_to_date), float(totals.cost or 0), periods, limits) if totals.has_cost else None
    )
    concerns = _common_concerns(days, totals, other_zone_days or [], tz.key)
    high = tuple(d.day for d in days if d.has_data and float(d.totals.cost or 0) >= limits.daily_moderate_below)
    if high:
        concerns.insert(0, Concern(ConcernKind.HIGH_DAYS, high, limit=limits.daily_moderate_below))
    if cap_reached_on:
        concerns.append(Concern(ConcernKind.HARD_CAP_REACHED, (cap_reached_on,), limit=limits.hard_cap))
    elif forecast and forecast.hard_cap_date:
        concerns.append(Concern(ConcernKind.HARD_CAP_AHEAD, (forecast.hard_cap_date,), limit=limits.hard_cap))
    elif forecast and forecast.month_end > limits.budget_alert:
        concerns.append(Concern(ConcernKind.FORECAST_OVER_ALERT, amount=forecast.month_end, limit=limits.budget_alert))
    return Review(
        kind="weekly",
        first=week_start,
        end=end,
        days=days,
        totals=totals,
        previous=_previous(rows, rolled_up, week_start - timedelta(days=7), week_start),
        models=models,
        cold_starts=cold_start_economics(models),
        recommendations=weekly_opportunities(days, totals, limits),
        concerns=concerns,
        forecast=forecast,
        hard_cap_reached_on=cap_reached_on,
    )


def monthly_review(
    rows: list[HistoryRow],
    rolled_up: set[date],
    month_start: date,
    tz: ZoneInfo,
    limits: Thresholds = GUIDE,
    other_zone_days: list[date] | None = None,
) -> Review:
    """The Monthly Review of the month starting ``month_start``: totals, budget verdict and plan."""
    end = month_after(month_start)
    days = daily_costs(rows, rolled_up, month_start, end)
    totals = sum_days(days)
    models = model_costs(rows, month_start, end)
    verdict = budget_verdict(totals, limits)
    concerns = _common_concerns(days, totals, other_zone_days or [], tz.key)
    if verdict is BudgetVerdict.OVER_BUDGET:
        concerns.insert(0, Concern(ConcernKind.OVER_BUDGET, amount=float(totals.cost or 0), limit=limits.budget_alert))
    hard_cap_on = first_day_reaching(days, limits.hard_cap)
    if hard_cap_on:
        concerns.insert(0, Concern(ConcernKind.HARD_CAP_REACHED, (hard_cap_on,), limit=limits.hard_cap))
    return Review(
        kind="monthly",
        first=month_start,
        end=end,
        days=days,
        totals=totals,
        previous=_previous(rows, rolled_up, month_before(month_start), month_start),
        models=models,
        cold_starts=cold_start_economics(models),
        recommendations=optimization_plan(totals, limits),
        concerns=concerns,
        budget=verdict,
        target_reached_on=first_day_reaching(days, limits.budget_target),
        hard_cap_reached_on=hard_cap_on,
    )
