"""The guide's Weekly and Monthly Review decisions: budget verdict, opportunities, optimization plan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from vast_pipelines.policy.costs import (
    CostTotals,
    DayCost,
    HistoryRow,
    ModelCost,
    daily_costs,
    first_day_reaching,
    model_costs,
    sum_days,
)
from vast_pipelines.policy.periods import local_midnight, periods_at
from vast_pipelines.policy.spend import Forecast, forecast_month_end
from vast_pipelines.policy.thresholds import GUIDE, Thresholds


class BudgetVerdict(StrEnum):
    """The Monthly Review's "Compare to budget"."""

    ON_TARGET = "on target"
    ACCEPTABLE = "acceptable"
    OVER_BUDGET = "over budget"
    NO_DATA = "no data"


_BUDGET_TEXT = {
    BudgetVerdict.ON_TARGET: "✅ Target: under ${target:,.0f}/month",
    BudgetVerdict.ACCEPTABLE: "⚠️ Acceptable: ${target:,.0f}-{alert:,.0f}/month",
    BudgetVerdict.OVER_BUDGET: "❌ Over budget: over ${alert:,.0f}/month (optimize)",
    BudgetVerdict.NO_DATA: "❔ No data: no request with a cost was logged this month (is agent-router writing costs?)",
}


def budget_verdict(totals: CostTotals, t: Thresholds = GUIDE) -> BudgetVerdict:
    """Target below ``budget_target``, acceptable up to ``budget_alert``, over budget above it."""
    if not totals.has_cost:
        return BudgetVerdict.NO_DATA
    cost = float(totals.cost or 0)
    if cost < t.budget_target:
        return BudgetVerdict.ON_TARGET
    if cost <= t.budget_alert:
        return BudgetVerdict.ACCEPTABLE
    return BudgetVerdict.OVER_BUDGET


def forecast_budget_verdict(forecast: Forecast, t: Thresholds = GUIDE) -> BudgetVerdict:
    """The month-end forecast against the budget, banded as a finished month would be."""
    cost = Decimal(str(forecast.month_end))
    return budget_verdict(CostTotals(requests=1, cost=cost), t)


def budget_verdict_text(verdict: BudgetVerdict, t: Thresholds = GUIDE) -> str:
    """The guide's wording for a budget verdict, with this deployment's numbers."""
    return _BUDGET_TEXT[verdict].format(target=t.budget_target, alert=t.budget_alert)


@dataclass(frozen=True)
class Recommendation:
    """One thing to change, structured so a job (e.g. ``update_worker``) can be configured from it.

    ``field`` and ``suggested_value`` name the Vast.ai field the fix moves (``inactivity_timeout``,
    ``max_workers``, ``min_load``; or the guide's ``gpu_type``, the ``gpu_name`` of the worker groups'
    ``search_params``) when the fix is a setting; None when it is work to do.
    """

    action: str
    reason: str
    field: str | None = None
    suggested_value: int | float | str | None = None
    estimated_saving_usd: float | None = None
    model: str | None = None

    @property
    def title(self) -> str:
        """A short imperative line for reports."""
        return ACTION_TITLES.get(self.action, self.action.replace("_", " ").capitalize())


ACTION_TITLES = {
    "implement_batching": "Implement batching",
    "add_caching": "Add caching",
    "increase_idle_timeout": "Increase idle timeout",
    "reduce_max_workers": "Reduce max_workers",
    "keep_warm": "Keep the worker warm",
    "use_faster_gpu": "Use a faster GPU",
    "use_cheaper_gpu": "Use a cheaper GPU",
    "quantize_models": "Quantize models",
}


def _saving(totals: CostTotals, share: float) -> float | None:
    return float(totals.cost) * share if totals.has_cost and totals.cost is not None else None


def weekly_opportunities(days: list[DayCost], week: CostTotals, t: Thresholds = GUIDE) -> list[Recommendation]:
    """The Weekly Review's "Check for optimization opportunities", decided from the week's figures.

    High daily costs (a day at the guide's "high" band) → batching or caching; many cold starts (rate
    above ``cold_start_rate``) → a longer idle timeout; low usage (fewer than ``low_usage_requests_per_day``
    requests a day on average) → fewer max workers.
    """
    result: list[Recommendation] = []
    high = [d for d in days if d.has_data and float(d.totals.cost or 0) >= t.daily_moderate_below]
    if high:
        listed = ", ".join(f"{d.day:%a %d %b} ${float(d.totals.cost or 0):,.2f}" for d in high)
        reason = f"{len(high)} day(s) at or above ${t.daily_moderate_below:,.0f}/day (high): {listed}"
        result.append(
            Recommendation("implement_batching", reason, estimated_saving_usd=_saving(week, t.saving_batching))
        )
        result.append(Recommendation("add_caching", reason, estimated_saving_usd=_saving(week, t.saving_caching)))
    rate = week.cold_start_rate
    if rate is not None and rate > t.cold_start_rate:
        result.append(
            Recommendation(
                "increase_idle_timeout",
                f"{rate:.0%} of requests were cold starts (above {t.cold_start_rate:.0%}); "
                f"cold starts cost {_share(week.cold_cost_share)} of the week's spend",
                field="inactivity_timeout",
                suggested_value=int(t.suggested_idle_timeout),
                estimated_saving_usd=_overhead(week),
            )
        )
    observed = [d for d in days if d.rolled_up]
    if observed and week.requests > 0:
        per_day = week.requests / len(observed)
        if per_day < t.low_usage_requests_per_day:
            result.append(
                Recommendation(
                    "reduce_max_workers",
                    f"{per_day:,.0f} requests/day on average (below {t.low_usage_requests_per_day:,.0f})",
                    field="max_workers",
                    suggested_value=t.suggested_max_workers,
                )
            )
    return result


def optimization_plan(month: CostTotals, t: Thresholds = GUIDE) -> list[Recommendation]:
    """The Monthly Review's "Plan optimizations if over budget", each with its saving on this month's cost.

    Empty unless the month is over budget. Savings are alternatives, not additive.
    """
    if budget_verdict(month, t) is not BudgetVerdict.OVER_BUDGET:
        return []
    target_gap = float(month.cost or 0) - t.budget_target
    suffix = f"; ${target_gap:,.2f} must go to get under the ${t.budget_target:,.0f} target"
    return [
        Recommendation(
            "implement_batching",
            f"the guide's estimate: {t.saving_batching:.0%} of the month's cost{suffix}",
            estimated_saving_usd=_saving(month, t.saving_batching),
        ),
        Recommendation(
            "add_caching",
            f"the guide's estimate: {t.saving_caching:.0%} of the month's cost{suffix}",
            estimated_saving_usd=_saving(month, t.saving_caching),
        ),
        Recommendation(
            "use_cheaper_gpu",
            f"assumed {t.saving_cheaper_gpu:.0%} of the month's cost (saving_cheaper_gpu){suffix}",
            field="gpu_type",
            estimated_saving_usd=_saving(month, t.saving_cheaper_gpu),
        ),
        Recommendation(
            "quantize_models",
            f"assumed {t.saving_quantization:.0%} of the month's cost (saving_quantization){suffix}",
            estimated_saving_usd=_saving(month, t.saving_quantization),
        ),
    ]


@dataclass(frozen=True)
class ColdStartEconomics:
    """How much of a model's spend and GPU time went into cold starts."""

    model: str
    requests: int
    cold_start_requests: int
    cold_start_rate: float | None
    cold_cost_share: float | None
    cold_duration_share: float | None
    overhead_usd: float | None


def cold_start_economics(models: list[ModelCost]) -> list[ColdStartEconomics]:
    """Per model: share of cost and of duration in cold-start requests, and their cost beyond warm ones."""
    return [
        ColdStartEconomics(
            model=m.model,
            requests=m.totals.requests,
            cold_start_requests=m.totals.cold_start_requests,
            cold_start_rate=m.totals.cold_start_rate,
            cold_cost_share=m.totals.cold_cost_share,
            cold_duration_share=m.totals.cold_duration_share,
            overhead_usd=_overhead(m.totals),
        )
        for m in models
    ]


def _overhead(totals: CostTotals) -> float | None:
    overhead = totals.cold_start_overhead
    return float(overhead) if overhead is not None and overhead > Decimal(0) else None


def _share(value: float | None) -> str:
    return "an unknown share" if value is None else f"{value:.0%}"


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
    concerns: list[str]
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


def _common_concerns(days: list[DayCost], totals: CostTotals, other_zone_days: list[date], zone: str) -> list[str]:
    concerns = []
    missing = [d.day for d in days if not d.rolled_up]
    if missing:
        concerns.append(
            f"{len(missing)} day(s) are not in the cost history ({_dates(missing)}): counted as no data; "
            "materialize daily_cost_history for them"
        )
    empty = [d.day for d in days if d.rolled_up and not d.has_data]
    if empty:
        concerns.append(f"No requests with a cost were logged on {_dates(empty)} (is agent-router writing costs?)")
    if totals.null_cost_requests:
        concerns.append(f"{totals.null_cost_requests:,} request(s) have no cost (NULL): not counted as money")
    if totals.invalid_cost_requests:
        concerns.append(
            f"{totals.invalid_cost_requests:,} request(s) have a cost that is not a finite number "
            "(NaN, Infinity or beyond ±$1e12): not counted as money"
        )
    if totals.negative_cost_requests:
        credit = f" ({float(totals.credit_cost):,.2f} USD in total)" if totals.credit_cost is not None else ""
        concerns.append(
            f"{totals.negative_cost_requests:,} request(s) have a negative cost{credit}: credits, not subtracted"
        )
    if other_zone_days:
        concerns.append(
            f"{_dates(other_zone_days)} were rolled up in another time zone than {zone}: "
            "re-materialize daily_cost_history for them"
        )
    return concerns


def _dates(days: list[date]) -> str:
    shown = ", ".join(f"{d:%Y-%m-%d}" for d in days[:7])
    return shown + (f" and {len(days) - 7} more" if len(days) > 7 else "")


def weekly_review(
    rows: list[HistoryRow],
    rolled_up: set[date],
    week_start: date,
    tz: ZoneInfo,
    t: Thresholds = GUIDE,
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
    cap_reached_on = first_day_reaching(month_days, t.hard_cap)
    forecast = (
        forecast_month_end(float(month_to_date), float(totals.cost or 0), periods, t) if totals.has_cost else None
    )
    concerns = _common_concerns(days, totals, other_zone_days or [], tz.key)
    high = [d for d in days if d.has_data and float(d.totals.cost or 0) >= t.daily_moderate_below]
    if high:
        concerns.insert(0, f"High daily cost (≥ ${t.daily_moderate_below:,.0f}) on {_dates([d.day for d in high])}")
    if cap_reached_on:
        concerns.append(f"The ${t.hard_cap:,.0f} hard cap was reached on {cap_reached_on:%Y-%m-%d}")
    elif forecast and forecast.hard_cap_date:
        concerns.append(f"At this rate the ${t.hard_cap:,.0f} hard cap is hit on {forecast.hard_cap_date:%Y-%m-%d}")
    elif forecast and forecast.month_end > t.budget_alert:
        concerns.append(
            f"Month-end forecast ${forecast.month_end:,.2f} is over the ${t.budget_alert:,.0f} budget alert"
        )
    return Review(
        kind="weekly",
        first=week_start,
        end=end,
        days=days,
        totals=totals,
        previous=_previous(rows, rolled_up, week_start - timedelta(days=7), week_start),
        models=models,
        cold_starts=cold_start_economics(models),
        recommendations=weekly_opportunities(days, totals, t),
        concerns=concerns,
        forecast=forecast,
        hard_cap_reached_on=cap_reached_on,
    )


def monthly_review(
    rows: list[HistoryRow],
    rolled_up: set[date],
    month_start: date,
    tz: ZoneInfo,
    t: Thresholds = GUIDE,
    other_zone_days: list[date] | None = None,
) -> Review:
    """The Monthly Review of the month starting ``month_start``: totals, budget verdict and plan."""
    end = month_after(month_start)
    days = daily_costs(rows, rolled_up, month_start, end)
    totals = sum_days(days)
    models = model_costs(rows, month_start, end)
    verdict = budget_verdict(totals, t)
    concerns = _common_concerns(days, totals, other_zone_days or [], tz.key)
    if verdict is BudgetVerdict.OVER_BUDGET:
        concerns.insert(0, f"Over budget: ${float(totals.cost or 0):,.2f} > ${t.budget_alert:,.0f}")
    hard_cap_on = first_day_reaching(days, t.hard_cap)
    if hard_cap_on:
        concerns.insert(0, f"The ${t.hard_cap:,.0f} hard cap was reached on {hard_cap_on:%Y-%m-%d}")
    return Review(
        kind="monthly",
        first=month_start,
        end=end,
        days=days,
        totals=totals,
        previous=_previous(rows, rolled_up, month_before(month_start), month_start),
        models=models,
        cold_starts=cold_start_economics(models),
        recommendations=optimization_plan(totals, t),
        concerns=concerns,
        budget=verdict,
        target_reached_on=first_day_reaching(days, t.budget_target),
        hard_cap_reached_on=hard_cap_on,
    )
