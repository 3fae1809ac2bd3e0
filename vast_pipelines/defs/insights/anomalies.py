"""Cost anomalies per model: today and this hour against the same weekday/hour of the previous weeks."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from vast_pipelines import clock
from vast_pipelines.defs.alerts.delivery import ALERT_TAG, deliver_alerts, delivery_request
from vast_pipelines.defs.costs.source import vast_ai_costs
from vast_pipelines.defs.guards import skip_when_unavailable
from vast_pipelines.defs.insights.changes import record_changes
from vast_pipelines.defs.insights.episodes import alert_episode
from vast_pipelines.defs.insights.freshness import GROUP
from vast_pipelines.defs.runbook import zone_and_limits
from vast_pipelines.domain.thresholds import Thresholds
from vast_pipelines.policy.anomalies import ModelAnomaly, comparison_windows, judge_windows
from vast_pipelines.reports.health import as_markdown
from vast_pipelines.reports.insights import anomalies_report, anomaly_alert, anomaly_line
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource

ANOMALIES_ASSET = "cost_anomalies"
ANOMALY_EPISODE = "cost_anomaly"


def judge_models(database: AnalyticsDatabase, now: datetime, tz: ZoneInfo, limits: Thresholds) -> list[ModelAnomaly]:
    """Every model with spend today, judged today and this hour (one statement: an index range per window)."""
    weeks = limits.anomaly_weeks
    windows = comparison_windows(now, tz, weeks)
    spend = database.costs.window_spend([(w.start, w.end) for w in windows])
    totals: dict[tuple[str, int, str], tuple[float, int]] = {}
    weeks_with_data: dict[str, set[int]] = {}
    for (position, model), (cost, requests) in spend.items():
        window = windows[position]
        totals[(window.scope, window.weeks_back, model)] = (cost or 0.0, requests)
        weeks_with_data.setdefault(window.scope, set()).add(window.weeks_back)
    return judge_windows(totals, weeks_with_data, weeks, limits.anomaly_score, limits.anomaly_min_usd)


def anomalies_metadata(judged: Sequence[ModelAnomaly], now: datetime, tz: ZoneInfo, weeks: int) -> dict[str, Any]:
    """What `cost_anomalies` records of one judgement: the same whether the asset is materialized or
    `cost_anomaly_sensor` records a change."""
    flagged = [a for a in judged if a.anomaly.flagged]
    return {
        "anomalies": len(flagged),
        "models": len({a.model for a in judged}),
        "flagged": dg.MetadataValue.json(
            [{"model": a.model, "scope": a.scope, "cost": a.cost, "driver": a.anomaly.driver} for a in flagged]
        ),
        "report": dg.MetadataValue.md(as_markdown(anomalies_report(judged, now, tz, weeks))),
    }


@dg.asset(name=ANOMALIES_ASSET, group_name=GROUP, kinds={"sql", "postgres"}, deps=[vast_ai_costs])
def cost_anomalies(database: AnalyticsDatabase, settings: RunbookSettings) -> dg.MaterializeResult:
    """Per model, today's and this hour's spend so far against the same stretch of the same weekday in the
    previous 4 weeks (median and MAD, robust to one odd week); flagged when far above and over
    anomaly_min_usd, with the driver: "requests up" or "cost per request up". `cost_anomaly_sensor` judges every
    15 min, alerts once per anomaly episode and records the verdict here whenever the flagged models and windows
    change; materializing judges now."""
    tz, limits = zone_and_limits(settings)
    now = clock.now()
    judged = judge_models(database, now, tz, limits)
    return dg.MaterializeResult(metadata=anomalies_metadata(judged, now, tz, limits.anomaly_weeks))


@dg.sensor(
    name="cost_anomaly_sensor",
    job=deliver_alerts,
    minimum_interval_seconds=900,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 15 min: a model's spend today or this hour far above the same weekday/hour of the previous "
    "4 weeks alerts #platform-alerts and platform-ops once per anomaly episode, naming the driver. Each change in "
    "the flagged models and windows is recorded on cost_anomalies.",
)
@skip_when_unavailable
def cost_anomaly_sensor(
    context: dg.SensorEvaluationContext,
    database: AnalyticsDatabase,
    slack: SlackResource,
    email: EmailResource,
    settings: RunbookSettings,
) -> dg.SensorResult:
    """An episode lasts while its model and window stay flagged; it is claimed with its alert, so it alerts once.
    The verdict reaches `cost_anomalies`' history when the flagged set differs from the last one recorded (the
    cursor)."""
    tz, limits = zone_and_limits(settings)
    now = clock.now()
    judged = judge_models(database, now, tz, limits)
    flagged = [a for a in judged if a.anomaly.flagged]
    events, cursor = record_changes(
        context.cursor,
        {"flagged": sorted(a.subject for a in flagged)},
        lambda: [
            dg.AssetMaterialization(
                asset_key=ANOMALIES_ASSET, metadata=anomalies_metadata(judged, now, tz, limits.anomaly_weeks)
            )
        ],
    )
    alerted, rows = [], []
    for anomaly in flagged:
        queued = alert_episode(
            context,
            database,
            slack,
            email,
            anomaly_alert(anomaly, now, tz, database.label),
            kind=ANOMALY_EPISODE,
            subject=anomaly.subject,
            summary=anomaly_line(anomaly),
            figures={"cost": anomaly.cost, "requests": anomaly.requests, "history": list(anomaly.cost_history)},
            dedupe_key=f"{ANOMALY_EPISODE}:{anomaly.subject}:{now.isoformat()}",
        )
        if queued is not None:
            alerted.append(anomaly.subject)
            rows += queued
    closed = database.alerts.close_episodes(ANOMALY_EPISODE, [a.subject for a in flagged])
    parts = [f"{len(flagged)} anomal{'y' if len(flagged) == 1 else 'ies'} flagged"]
    if closed:
        parts.append(f"ended {', '.join(c['subject'] for c in closed)}")
    if rows:
        context.log.warning(f"{'; '.join(parts)}; alerting {', '.join(alerted)}")
        key = f"{ANOMALY_EPISODE}:{now.isoformat()}:{'+'.join(sorted(alerted))}"
        return dg.SensorResult(
            run_requests=[delivery_request(key, rows, {ALERT_TAG: ANOMALY_EPISODE})], cursor=cursor, asset_events=events
        )
    return dg.SensorResult(skip_reason="; ".join(parts) + ".", cursor=cursor, asset_events=events)
