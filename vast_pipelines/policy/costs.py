"""Cost history arithmetic: totals per day, week, month and model from the daily rollup (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from vast_pipelines.domain.costs import CostTotals, HistoryRow


@dataclass(frozen=True)
class DayCost:
    """One local day of the history: its totals, and whether it was rolled up at all."""

    day: date
    totals: CostTotals
    rolled_up: bool

    @property
    def has_data(self) -> bool:
        """Requests with a cost were logged that day."""
        return self.totals.has_cost


@dataclass(frozen=True)
class ModelCost:
    """One model over a period."""

    model: str
    totals: CostTotals


def days_between(first: date, end: date) -> list[date]:
    """Every day from ``first`` up to, not including, ``end``."""
    return [first + timedelta(days=i) for i in range((end - first).days)]


def total(rows: Iterable[HistoryRow]) -> CostTotals:
    """The sum of the rows' totals."""
    result = CostTotals()
    for row in rows:
        result = result + row.totals
    return result


def daily_costs(rows: Iterable[HistoryRow], rolled_up: Iterable[date], first: date, end: date) -> list[DayCost]:
    """One entry per day in ``[first, end)``, oldest first; days without rows are empty, not $0."""
    by_day: dict[date, CostTotals] = {}
    for row in rows:
        if first <= row.day < end:
            by_day[row.day] = by_day.get(row.day, CostTotals()) + row.totals
    done = set(rolled_up)
    return [DayCost(d, by_day.get(d, CostTotals()), d in done) for d in days_between(first, end)]


def month_by_day(
    rows: Iterable[HistoryRow], rolled_up: Iterable[date], first: date, today: date, today_totals: CostTotals
) -> list[DayCost]:
    """The guide's "Current month spend by day": the history's days from ``first`` up to ``today``, and today so
    far (from the raw rows: today is not rolled up until it ends); oldest first."""
    return [*daily_costs(rows, rolled_up, first, today), DayCost(today, today_totals, rolled_up=False)]


def model_costs(rows: Iterable[HistoryRow], first: date, end: date) -> list[ModelCost]:
    """Per-model totals over ``[first, end)``, most expensive first."""
    by_model: dict[str, CostTotals] = {}
    for row in rows:
        if first <= row.day < end:
            by_model[row.model] = by_model.get(row.model, CostTotals()) + row.totals
    ranked = sorted(by_model.items(), key=lambda kv: (-(kv[1].cost or Decimal(0)), -kv[1].requests, kv[0]))
    return [ModelCost(model, totals) for model, totals in ranked]


def sum_days(days: Iterable[DayCost]) -> CostTotals:
    """The totals of several days."""
    result = CostTotals()
    for day in days:
        result = result + day.totals
    return result


def first_day_reaching(days: Iterable[DayCost], amount: float) -> date | None:
    """The first day on which the running total reached ``amount`` USD, or None."""
    running = Decimal(0)
    for day in days:
        running += day.totals.cost or Decimal(0)
        if running >= Decimal(str(amount)):
            return day.day
    return None
