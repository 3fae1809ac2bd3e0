"""Every number the operations guide decides with, in one place, with the guide's values as defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    """Budget, alert, runaway, daily-band, latency and cold-start limits (USD, seconds, ratios as floats; counts of
    checks, workers, days and weeks as ints). Which values make sense is checked where they are read
    (``resources/settings.py``)."""

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
    outage_checks: int = 2

    # --- Weekly and monthly reviews (cost history) ---
    # "Increase idle timeout from 5 min to 10 min" (seconds), the guide's fix for many cold starts.
    suggested_idle_timeout: float = 600.0
    # "Low usage? → Reduce max_workers": below this many requests per day on average over the week,
    # suggest this many max workers (the guide deploys with 3). Not in the guide: our defaults.
    low_usage_requests_per_day: float = 100.0
    suggested_max_workers: int = 1
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
    what_if_days: int = 14
    gpu_hour_usd: float = 0.0
    # Cost anomalies: robust score (MADs above the median of the same weekday/hour of past weeks), the
    # smallest spend worth an alert (USD), and how many past weeks make the baseline.
    anomaly_score: float = 3.5
    anomaly_min_usd: float = 1.0
    anomaly_weeks: int = 4
    # Reconciliation with Vast.ai billing: share of the bill logged cost may miss, bills too small to
    # judge as a share (USD), days compared.
    reconcile_share: float = 0.10
    reconcile_min_billed: float = 0.50
    reconcile_days: int = 14
    # Alert-rule backtest: days of history replayed.
    backtest_days: int = 90

    # --- The outbox (not in the guide: our defaults) ---
    # An undelivered message older than this is old news: marked expired and summarised in one digest,
    # never posted on its own. Alerts and incidents (hours), reports (hours).
    alert_max_age_hours: float = 6.0
    report_max_age_hours: float = 24.0


GUIDE = Thresholds()
