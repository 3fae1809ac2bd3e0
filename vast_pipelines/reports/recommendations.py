"""Recommendations in words: a title for each action, the evidence as a reason, one line per recommendation."""

from __future__ import annotations

from typing import Any

from vast_pipelines.policy.recommendations import (
    ColdStartRate,
    HighDays,
    LowUsage,
    ManyColdStarts,
    OverBudgetSaving,
    Recommendation,
    SlowWarm,
)
from vast_pipelines.reports.figures import money

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


def title(r: Recommendation) -> str:
    """A short imperative line for reports."""
    return ACTION_TITLES.get(r.action, r.action.replace("_", " ").capitalize())


def _share(value: float | None) -> str:
    return "an unknown share" if value is None else f"{value:.0%}"


def reason(r: Recommendation) -> str:
    """Why: the figures that call for it."""
    why = r.why
    if isinstance(why, HighDays):
        listed = ", ".join(f"{day:%a %d %b} ${cost:,.2f}" for day, cost in why.days)
        return f"{len(why.days)} day(s) at or above ${why.limit:,.0f}/day (high): {listed}"
    if isinstance(why, ManyColdStarts):
        return (
            f"{why.rate:.0%} of requests were cold starts (above {why.limit:.0%}); "
            f"cold starts cost {_share(why.cost_share)} of the week's spend"
        )
    if isinstance(why, LowUsage):
        return f"{why.per_day:,.0f} requests/day on average (below {why.limit:,.0f})"
    if isinstance(why, OverBudgetSaving):
        source = (
            f"assumed {why.share:.0%} of the month's cost ({why.assumed})"
            if why.assumed
            else f"the guide's estimate: {why.share:.0%} of the month's cost"
        )
        return f"{source}; ${why.over_target:,.2f} must go to get under the ${why.target:,.0f} target"
    if isinstance(why, ColdStartRate):
        fix = (
            "increase the idle timeout"
            if r.field == "inactivity_timeout"
            else "or keep one worker active (min_workers=1)"
        )
        return f"cold_start_rate {why.rate:.2f} > {why.limit:.2f} over the last 24 h: {fix}"
    assert isinstance(why, SlowWarm)
    return f"warm requests alone have p50 {why.p50:.1f} s > {why.limit:.0f} s (RTX 4090 → A6000)"


def recommendation_line(r: Recommendation) -> str:
    """One recommendation: what, the setting to change, why, and what it would save."""
    setting = f" (set {r.field}={r.suggested_value})" if r.field and r.suggested_value is not None else ""
    model = f" for {r.model}" if r.model else ""
    saving = f"; saves about {money(r.estimated_saving_usd)}" if r.estimated_saving_usd is not None else ""
    return f"• {title(r)}{model}{setting}: {reason(r)}{saving}"


def recommendation_record(r: Recommendation) -> dict[str, Any]:
    """The recommendation as the UI's table and the stored figures keep it, its reason in words."""
    return {
        "action": r.action,
        "reason": reason(r),
        "field": r.field,
        "suggested_value": r.suggested_value,
        "estimated_saving_usd": r.estimated_saving_usd,
        "model": r.model,
    }
