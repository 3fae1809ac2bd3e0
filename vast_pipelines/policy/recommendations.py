"""What to change, decided from the figures: the Weekly Review's opportunities, the Monthly Review's plan, and the
settings they move, each with the evidence that called for it (reports word it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from vast_pipelines.domain.costs import CostTotals
from vast_pipelines.domain.thresholds import GUIDE, Thresholds
from vast_pipelines.policy.costs import DayCost, ModelCost
from vast_pipelines.policy.spend import BudgetVerdict, budget_verdict
from vast_pipelines.policy.worker_settings import SETTING_NAMES, WorkerSettings


@dataclass(frozen=True)
class HighDays:
    """Days at or above the guide's "high" band (USD each), and the band's lower edge."""

    days: tuple[tuple[date, float], ...]
    limit: float


@dataclass(frozen=True)
class ManyColdStarts:
    """A week's share of cold starts over the limit, and the share of its spend they took."""

    rate: float
    limit: float
    cost_share: float | None


@dataclass(frozen=True)
class LowUsage:
    """Requests per observed day under the low-usage line."""

    per_day: float
    limit: float


@dataclass(frozen=True)
class OverBudgetSaving:
    """One item of the plan for a month over budget: the share of the month's cost it saves (the guide's estimate,
    or ours, named by its threshold ``assumed``), and how far the month is over the target (USD)."""

    share: float
    assumed: str | None
    over_target: float
    target: float


@dataclass(frozen=True)
class ColdStartRate:
    """The last 24 h's cold-start rate over the limit."""

    rate: float
    limit: float


@dataclass(frozen=True)
class SlowWarm:
    """Warm requests alone slower (p50, seconds) than the guide's acceptable line."""

    p50: float
    limit: float


Evidence = HighDays | ManyColdStarts | LowUsage | OverBudgetSaving | ColdStartRate | SlowWarm


@dataclass(frozen=True)
class Recommendation:
    """One thing to change, structured so a job (e.g. ``update_worker``) can be configured from it.

    ``field`` and ``suggested_value`` name the Vast.ai field the fix moves (``inactivity_timeout``,
    ``max_workers``, ``min_load``; or the guide's ``gpu_type``, the ``gpu_name`` of the worker groups'
    ``search_params``) when the fix is a setting; None when it is work to do. ``why`` holds the figures that call
    for it.
    """

    action: str
    why: Evidence
    field: str | None = None
    suggested_value: int | float | str | None = None
    estimated_saving_usd: float | None = None
    model: str | None = None


def _saving(totals: CostTotals, share: float) -> float | None:
    return float(totals.cost) * share if totals.has_cost and totals.cost is not None else None


def weekly_opportunities(days: list[DayCost], week: CostTotals, limits: Thresholds = GUIDE) -> list[Recommendation]:
    """The Weekly Review's "Check for optimization opportunities", decided from the week's figures.

    High daily costs (a day at the guide's "high" band) → batching or caching; many cold starts (rate
    above ``cold_start_rate``) → a longer idle timeout; low usage (fewer than ``low_usage_requests_per_day``
    requests a day on average) → fewer max workers.
    """
    result: list[Recommendation] = []
    high = [d for d in days if d.has_data and float(d.totals.cost or 0) >= limits.daily_moderate_below]
    if high:
        why = HighDays(tuple((d.day, float(d.totals.cost or 0)) for d in high), limits.daily_moderate_below)
        result.append(
            Recommendation("implement_batching", why, estimated_saving_usd=_saving(week, limits.saving_batching))
        )
        result.append(Recommendation("add_caching", why, estimated_saving_usd=_saving(week, limits.saving_caching)))
    rate = week.cold_start_rate
    if rate is not None and rate > limits.cold_start_rate:
        result.append(
            Recommendation(
                "increase_idle_timeout",
                ManyColdStarts(rate, limits.cold_start_rate, week.cold_cost_share),
                field="inactivity_timeout",
                suggested_value=int(limits.suggested_idle_timeout),
                estimated_saving_usd=overhead(week),
            )
        )
    observed = [d for d in days if d.rolled_up]
    if observed and week.requests > 0:
        per_day = week.requests / len(observed)
        if per_day < limits.low_usage_requests_per_day:
            result.append(
                Recommendation(
                    "reduce_max_workers",
                    LowUsage(per_day, limits.low_usage_requests_per_day),
                    field="max_workers",
                    suggested_value=int(limits.suggested_max_workers),
                )
            )
    return result


def optimization_plan(month: CostTotals, limits: Thresholds = GUIDE) -> list[Recommendation]:
    """The Monthly Review's "Plan optimizations if over budget", each with its saving on this month's cost.

    Empty unless the month is over budget. Savings are alternatives, not additive.
    """
    if budget_verdict(month, limits) is not BudgetVerdict.OVER_BUDGET:
        return []
    over = float(month.cost or 0) - limits.budget_target

    def why(share: float, assumed: str | None = None) -> OverBudgetSaving:
        return OverBudgetSaving(share, assumed, over, limits.budget_target)

    return [
        Recommendation(
            "implement_batching",
            why(limits.saving_batching),
            estimated_saving_usd=_saving(month, limits.saving_batching),
        ),
        Recommendation(
            "add_caching", why(limits.saving_caching), estimated_saving_usd=_saving(month, limits.saving_caching)
        ),
        Recommendation(
            "use_cheaper_gpu",
            why(limits.saving_cheaper_gpu, "saving_cheaper_gpu"),
            field="gpu_type",
            estimated_saving_usd=_saving(month, limits.saving_cheaper_gpu),
        ),
        Recommendation(
            "quantize_models",
            why(limits.saving_quantization, "saving_quantization"),
            estimated_saving_usd=_saving(month, limits.saving_quantization),
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
            overhead_usd=overhead(m.totals),
        )
        for m in models
    ]


def overhead(totals: CostTotals) -> float | None:
    """What cold starts cost beyond warm requests (USD), when it is more than nothing."""
    extra = totals.cold_start_overhead
    return float(extra) if extra is not None and extra > Decimal(0) else None


def ready_fixes(recommendations: list[Recommendation], endpoints: list[str]) -> list[tuple[str, WorkerSettings]]:
    """Each setting recommendation as ``(endpoint, changes)`` for ``update_worker``: one per platform endpoint.

    Without known endpoints (``VAST_ENDPOINTS`` unset) the endpoint is left as ``<endpoint>`` to fill in.
    """
    fixes = []
    for r in recommendations:
        if r.field in SETTING_NAMES and r.suggested_value is not None:
            changes = WorkerSettings(**{r.field: r.suggested_value})
            fixes += [(endpoint, changes) for endpoint in (endpoints or ["<endpoint>"])]
    return fixes
