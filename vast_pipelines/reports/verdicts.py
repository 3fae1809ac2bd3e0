"""The guide's words for its verdicts: the daily bands, the latency bands, the budget and the alert levels."""

from __future__ import annotations

from vast_pipelines.domain.thresholds import GUIDE, Thresholds
from vast_pipelines.policy.alerts import AlertLevel
from vast_pipelines.policy.spend import BudgetVerdict, DailyVerdict
from vast_pipelines.policy.troubleshooting import LatencyVerdict

_DAILY_TEXT = {
    DailyVerdict.EXCELLENT: "✅ Excellent (on track for <$150/month)",
    DailyVerdict.MODERATE: "⚠️ Moderate (on track for $150-300/month)",
    DailyVerdict.HIGH: "❌ High (review usage, optimize)",
    DailyVerdict.NO_DATA: "❔ No data: no requests were logged in vast_ai_costs (is agent-router writing costs?)",
    DailyVerdict.UNKNOWN: "❔ Unknown: cost data is stale, the figures below may miss requests",
}


def daily_verdict_text(verdict: DailyVerdict) -> str:
    """The guide's wording for a daily verdict."""
    return _DAILY_TEXT[verdict]


_LATENCY_TEXT = {
    LatencyVerdict.GOOD: "✅ Good performance",
    LatencyVerdict.ACCEPTABLE: "⚠️ Acceptable (some cold starts)",
    LatencyVerdict.SLOW: "⚠️ Slower than acceptable, not yet at the guide's investigate line: watch it",
    LatencyVerdict.INVESTIGATE: "❌ Investigate (many cold starts or slow GPU)",
    LatencyVerdict.NO_DATA: "❔ No data: no request with a duration was logged in the last 24 h",
}


def latency_verdict_text(verdict: LatencyVerdict) -> str:
    """The guide's wording for a latency verdict."""
    return _LATENCY_TEXT[verdict]


_BUDGET_TEXT = {
    BudgetVerdict.ON_TARGET: "✅ Target: under ${target:,.0f}/month",
    BudgetVerdict.ACCEPTABLE: "⚠️ Acceptable: ${target:,.0f}-{alert:,.0f}/month",
    BudgetVerdict.OVER_BUDGET: "❌ Over budget: over ${alert:,.0f}/month (optimize)",
    BudgetVerdict.NO_DATA: "❔ No data: no request with a cost was logged this month (is agent-router writing costs?)",
}


def budget_verdict_text(verdict: BudgetVerdict, limits: Thresholds = GUIDE) -> str:
    """The guide's wording for a budget verdict, with this deployment's numbers."""
    return _BUDGET_TEXT[verdict].format(target=limits.budget_target, alert=limits.budget_alert)


# The guide's words for each level, and what an operator does about it.
MEANING = {
    AlertLevel.INFO: "on track",
    AlertLevel.WARNING: "review usage",
    AlertLevel.CRITICAL: "optimize now",
    AlertLevel.EMERGENCY: "hard cap, fallback to CPU",
}
