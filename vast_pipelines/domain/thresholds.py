"""Every number the operations guide decides with, in one place, with the guide's values as defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Thresholds:
    """Budget, alert, runaway, daily-band, latency and cold-start limits (USD, seconds, ratios)."""

    # Budget (USD per month).
    budget_target: float = 100.0
    budget_alert: float = 150.0
    hard_cap: float = 200.0
    # Grafana alert levels (USD month-to-date): info, warning, critical, emergency.
    alert_info: float = 50.0
    alert_warning: float = 100.0
    alert_critical: float = 150.0
    alert_emergency: float = 200.0
    # Runaway costs (USD per day).
    runaway_daily: float = 50.0
    # "Interpret Results" daily bands (USD per day).
    daily_excellent_below: float = 5.0
    daily_moderate_below: float = 10.0
    # "Slow Responses" latency bands (seconds).
    good_p50: float = 2.0
    good_p95: float = 5.0
    acceptable_p50: float = 5.0
    acceptable_p95: float = 10.0
    investigate_p95: float = 20.0
    # "If cold_start_rate > 0.2: keep worker warm".
    cold_start_rate: float = 0.2
    # "Service Down": failed checks in a row (each after the cold-start retry) before an outage opens.
    outage_checks: float = 2

    # --- Weekly and monthly reviews (cost history) ---
    # "Increase idle timeout from 5 min to 10 min" (seconds), the guide's fix for many cold starts.
    suggested_idle_timeout: float = 600.0
    # "Low usage? → Reduce max_workers": below this many requests per day on average over the week,
    # suggest this many max workers (the guide deploys with 3). Not in the guide: our defaults.
    low_usage_requests_per_day: float = 100.0
    suggested_max_workers: float = 1.0
    # "Plan optimizations if over budget": share of the month's cost each would save. Batching and
    # caching are the guide's; a cheaper GPU and quantization are our assumptions (it gives no number).
    saving_batching: float = 0.8
    saving_caching: float = 0.5
    saving_cheaper_gpu: float = 0.3
    saving_quantization: float = 0.4

    # --- Insights beyond the runbook (not in the guide: our defaults) ---
    # Cost data is stale after this long without a logged request, if the same hours of past weeks had
    # at least this many requests (median of the last 4 weeks).
    freshness_max_gap_minutes: float = 120.0
    freshness_min_expected_requests: float = 1.0
    # Idle-timeout what-if: days of requests replayed; USD per warm GPU-hour (0: the Vast.ai endpoint's
    # price when it reports one, else the logged cost per busy GPU-hour).
    what_if_days: float = 14.0
    gpu_hour_usd: float = 0.0
    # Cost anomalies: robust score (MADs above the median of the same weekday/hour of past weeks), the
    # smallest spend worth an alert (USD), and how many past weeks make the baseline.
    anomaly_score: float = 3.5
    anomaly_min_usd: float = 1.0
    anomaly_weeks: float = 4.0
    # Reconciliation with Vast.ai billing: share of the bill logged cost may miss, bills too small to
    # judge as a share (USD), days compared.
    reconcile_share: float = 0.10
    reconcile_min_billed: float = 0.50
    reconcile_days: float = 14.0
    # Alert-rule backtest: days of history replayed.
    backtest_days: float = 90.0

    # --- The outbox (not in the guide: our defaults) ---
    # An undelivered message older than this is old news: marked expired and summarised in one digest,
    # never posted on its own. Alerts and incidents (hours), reports (hours).
    alert_max_age_hours: float = 6.0
    report_max_age_hours: float = 24.0


GUIDE = Thresholds()


# --- What a sensible set of thresholds is (checked when the code location loads) -------------------

# Shares of something: above 0, at most 1.
RATIOS = frozenset(
    {
        "cold_start_rate",
        "saving_batching",
        "saving_caching",
        "saving_cheaper_gpu",
        "saving_quantization",
        "reconcile_share",
    }
)
# Whole numbers of checks, days, weeks or workers: at least 1.
COUNTS = frozenset(
    {"outage_checks", "suggested_max_workers", "what_if_days", "anomaly_weeks", "reconcile_days", "backtest_days"}
)
# 0 has a meaning of its own ("use the endpoint's price").
ZERO_ALLOWED = frozenset({"gpu_hour_usd"})
# Pairs that must rise (lower, higher): a reversed pair would alert emergency before info.
ASCENDING: tuple[tuple[str, str], ...] = (
    ("alert_info", "alert_warning"),
    ("alert_warning", "alert_critical"),
    ("alert_critical", "alert_emergency"),
    ("budget_target", "hard_cap"),
    ("daily_excellent_below", "daily_moderate_below"),
    ("good_p50", "acceptable_p50"),
    ("good_p95", "acceptable_p95"),
    ("acceptable_p95", "investigate_p95"),
)


@dataclass(frozen=True)
class ThresholdProblem:
    """One threshold (or pair) that would make a check meaningless; ``rule`` is what it must be."""

    names: tuple[str, ...]
    values: tuple[float, ...]
    rule: str


def threshold_problems(limits: Thresholds) -> list[ThresholdProblem]:
    """Every value that is not finite, not positive, out of range or out of order (empty when all is well).

    NaN compares false with everything and infinity is never reached: either would switch a check off silently,
    and a limit of 0 or below would shut the platform down at $0 spend.
    """
    problems: list[ThresholdProblem] = []
    for f in fields(limits):
        value = getattr(limits, f.name)
        if not math.isfinite(value):
            problems.append(ThresholdProblem((f.name,), (value,), "a finite number"))
        elif f.name in ZERO_ALLOWED:
            if value < 0:
                problems.append(ThresholdProblem((f.name,), (value,), "0 or more"))
        elif value <= 0:
            problems.append(ThresholdProblem((f.name,), (value,), "above 0"))
        elif f.name in RATIOS and value > 1:
            problems.append(ThresholdProblem((f.name,), (value,), "a share between 0 and 1"))
        elif f.name in COUNTS and value != int(value):
            problems.append(ThresholdProblem((f.name,), (value,), "a whole number, 1 or more"))
    if problems:
        return problems
    for lower, higher in ASCENDING:
        if getattr(limits, lower) >= getattr(limits, higher):
            problems.append(
                ThresholdProblem(
                    (lower, higher), (getattr(limits, lower), getattr(limits, higher)), f"{lower} below {higher}"
                )
            )
    if limits.runaway_daily > limits.hard_cap:
        problems.append(
            ThresholdProblem(
                ("runaway_daily", "hard_cap"),
                (limits.runaway_daily, limits.hard_cap),
                "runaway_daily (a day) at most hard_cap (a month)",
            )
        )
    return problems
