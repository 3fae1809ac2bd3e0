"""Cost history arithmetic: totals per day, week, month and model from the daily rollup (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal


def round_money(value: Decimal | None, places: int) -> Decimal | None:
    """Round as PostgreSQL's ``ROUND(numeric, places)`` does (half away from zero), for display only."""
    if value is None:
        return None
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _add(a, b):
    """Sum where None means "nothing logged": None + None stays None, as SQL's SUM does."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


@dataclass(frozen=True)
class CostTotals:
    """Additive request and cost counts over any set of requests (USD exact, durations in seconds)."""

    requests: int = 0
    cost: Decimal | None = None
    cold_start_requests: int = 0
    cold_start_cost: Decimal | None = None
    cold_start_costed_requests: int = 0
    duration_sum: float | None = None
    duration_count: int = 0
    cold_duration_sum: float | None = None
    cold_duration_count: int = 0
    null_cost_requests: int = 0
    null_duration_requests: int = 0
    negative_cost_requests: int = 0
    # Costs that are not money (NaN, Infinity, beyond +-1e12): never in ``cost``, counted like NULLs.
    invalid_cost_requests: int = 0
    # Negative costs (credits), summed apart: ``cost`` is what was charged, never net of them.
    credit_cost: Decimal | None = None

    def __add__(self, other: CostTotals) -> CostTotals:
        return CostTotals(**{f.name: _add(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)})

    @property
    def has_cost(self) -> bool:
        """Whether any request with a cost was logged; without one the period is "no data", never $0."""
        return self.requests > 0 and self.cost is not None

    @property
    def cost_per_request(self) -> Decimal | None:
        """The guide's ``SUM(cost) / COUNT(*)``: requests without a cost count in the denominator."""
        return self.cost / self.requests if self.has_cost else None

    @property
    def costed_requests(self) -> int:
        """Requests that carry a cost that is money."""
        return self.requests - self.null_cost_requests - self.invalid_cost_requests

    @property
    def cold_start_rate(self) -> float | None:
        """Share of requests that were cold starts (the guide's ``AVG(CASE WHEN cold_start ...)``)."""
        return self.cold_start_requests / self.requests if self.requests else None

    @property
    def avg_duration_sec(self) -> float | None:
        """Mean duration of the requests that logged one."""
        return (
            self.duration_sum / self.duration_count if self.duration_count and self.duration_sum is not None else None
        )

    @property
    def cold_cost_share(self) -> float | None:
        """Share of the cost spent in cold-start requests."""
        if not self.cost:
            return None
        return float((self.cold_start_cost or Decimal(0)) / self.cost)

    @property
    def cold_duration_share(self) -> float | None:
        """Share of the GPU seconds spent in cold-start requests."""
        if not self.duration_sum:
            return None
        return (self.cold_duration_sum or 0.0) / self.duration_sum

    @property
    def warm_cost_per_request(self) -> Decimal | None:
        """Mean cost of a warm request (among those with a cost)."""
        warm_costed = self.costed_requests - self.cold_start_costed_requests
        if self.cost is None or warm_costed <= 0:
            return None
        return (self.cost - (self.cold_start_cost or Decimal(0))) / warm_costed

    @property
    def cold_start_overhead(self) -> Decimal | None:
        """What cold-start requests cost beyond the same number of warm requests (USD)."""
        warm = self.warm_cost_per_request
        if warm is None or self.cold_start_costed_requests == 0:
            return None
        return (self.cold_start_cost or Decimal(0)) - warm * self.cold_start_costed_requests


@dataclass(frozen=True)
class HistoryRow:
    """One row of ``vast_pipelines.daily_cost_history``: one model on one local day."""

    day: date
    model: str
    totals: CostTotals


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
