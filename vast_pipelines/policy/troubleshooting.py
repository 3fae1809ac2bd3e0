"""The guide's "Symptom: Slow Responses" and "Symptom: High Costs": verdicts, causes and fixes (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vast_pipelines.domain.costs import CostDriver, LatencySummary, Percentiles
from vast_pipelines.domain.thresholds import GUIDE, Thresholds
from vast_pipelines.policy.guide_words import keep_warm_min_load
from vast_pipelines.policy.recommendations import ColdStartRate, Recommendation, SlowWarm

# The guide's "Use faster GPU (RTX 4090 → A6000)", as Vast.ai names the A6000 in search_params.
FASTER_GPU = "RTX_A6000"


class LatencyVerdict(StrEnum):
    """The guide's "Interpretation" of the latency percentiles."""

    GOOD = "good"
    ACCEPTABLE = "acceptable"
    SLOW = "slow"
    INVESTIGATE = "investigate"
    NO_DATA = "no data"


def latency_verdict(p: Percentiles, limits: Thresholds = GUIDE) -> LatencyVerdict:
    """Good (p50 < 2 s and p95 < 5 s), acceptable (p50 < 5 s and p95 < 10 s), investigate (p50 > 5 s or
    p95 > 20 s); what falls between acceptable and investigate (the guide leaves it open) is "slow"."""
    if p.p50 is None or p.p95 is None:
        return LatencyVerdict.NO_DATA
    if p.p50 < limits.good_p50 and p.p95 < limits.good_p95:
        return LatencyVerdict.GOOD
    if p.p50 < limits.acceptable_p50 and p.p95 < limits.acceptable_p95:
        return LatencyVerdict.ACCEPTABLE
    if p.p50 > limits.acceptable_p50 or p.p95 > limits.investigate_p95:
        return LatencyVerdict.INVESTIGATE
    return LatencyVerdict.SLOW


def latency_fixes(summary: LatencySummary, limits: Thresholds = GUIDE) -> list[Recommendation]:
    """The guide's "Fixes": keep the worker warm above the cold-start rate; a faster GPU when slow warm."""
    fixes: list[Recommendation] = []
    rate = summary.cold_start_rate
    if rate is not None and rate > limits.cold_start_rate:
        why = ColdStartRate(rate, limits.cold_start_rate)
        fixes.append(Recommendation("keep_warm", why, "inactivity_timeout", int(limits.suggested_idle_timeout)))
        # Warm means active: min_load above 0 (cold_workers only keeps stopped workers, still a cold start).
        fixes.append(Recommendation("keep_warm", why, "min_load", keep_warm_min_load(1)))
    warm_p50 = summary.warm.p50
    if warm_p50 is not None and warm_p50 > limits.acceptable_p50:
        fixes.append(
            Recommendation("use_faster_gpu", SlowWarm(warm_p50, limits.acceptable_p50), "gpu_type", FASTER_GPU)
        )
    return fixes


class HintKind(StrEnum):
    """The guide's "Common Causes" that today's figures point at."""

    MANY_COLD_STARTS = "many_cold_starts"
    LARGE_MODEL = "large_model"
    EXPENSIVE_MODEL = "expensive_model"


@dataclass(frozen=True)
class CostHint:
    """One cause for one model, with its figure: the cold-start rate and the idle timeout (seconds) to move to, or
    today's cost (USD)."""

    kind: HintKind
    model: str
    rate: float | None = None
    idle_timeout: float | None = None
    cost: float | None = None


def cost_driver_hints(drivers: list[CostDriver], limits: Thresholds = GUIDE) -> list[CostHint]:
    """The guide's "Common Causes & Fixes" that today's figures point at, most expensive model first."""
    hints: list[CostHint] = []
    for d in drivers:
        rate = d.cold_start_requests / d.requests if d.requests else 0.0
        if rate > limits.cold_start_rate:
            hints.append(
                CostHint(HintKind.MANY_COLD_STARTS, d.model, rate=rate, idle_timeout=limits.suggested_idle_timeout)
            )
        if "70b" in d.model.lower() and d.total_cost and float(d.total_cost) > 0:
            hints.append(CostHint(HintKind.LARGE_MODEL, d.model))
    if drivers and drivers[0].total_cost is not None and float(drivers[0].total_cost) >= limits.daily_moderate_below:
        hints.append(CostHint(HintKind.EXPENSIVE_MODEL, drivers[0].model, cost=float(drivers[0].total_cost)))
    return hints
