"""No data is not $0: is `vast_ai_costs` silent while the same hours of past weeks had traffic?"""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from vast_pipelines import clock
from vast_pipelines.defs.alerts.delivery import ALERT_TAG, deliver_alerts, delivery_request
from vast_pipelines.defs.cost_freshness import cost_freshness
from vast_pipelines.defs.costs.source import vast_ai_costs
from vast_pipelines.defs.guards import skip_when_unavailable
from vast_pipelines.defs.insights.changes import AssetEvent, record_changes
from vast_pipelines.defs.insights.episodes import alert_episode
from vast_pipelines.defs.runbook import zone_and_limits
from vast_pipelines.domain.insights import Freshness
from vast_pipelines.reports.health import as_markdown
from vast_pipelines.reports.insights import (
    freshness_alert,
    freshness_reason,
    freshness_record,
    freshness_recovered,
    freshness_report,
    stale_text,
)
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.store.outbox import OutboxMessage

GROUP = "insights"
FRESHNESS_ASSET = "cost_data_freshness"
COST_DATA_FRESH_CHECK = "cost_data_fresh"
STALE_EPISODE = "stale_cost_data"
COST_TABLE_SUBJECT = "vast_ai_costs"


def freshness_verdict(
    freshness: Freshness, now: datetime, tz: ZoneInfo, source: str
) -> tuple[dict[str, Any], dg.AssetCheckResult]:
    """What `cost_data_freshness` records of one judgement, and the result of its check `cost_data_fresh`: the
    same whether the asset is materialized or `cost_freshness_sensor` records a change."""
    gap_minutes = (now - freshness.since).total_seconds() / 60 if freshness.since else None
    metadata = {
        "stale": freshness.stale,
        **({"minutes_since_last_request": gap_minutes} if gap_minutes is not None else {}),
        "latest_request": str(freshness.since or "never"),
        "report": dg.MetadataValue.md(as_markdown(freshness_report(freshness, now, tz, source))),
    }
    check = dg.AssetCheckResult(
        check_name=COST_DATA_FRESH_CHECK,
        passed=not freshness.stale,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "reason": freshness_reason(freshness),
            "verdict": stale_text(freshness, tz) if freshness.stale else "fresh",
        },
    )
    return metadata, check


def freshness_events(freshness: Freshness, now: datetime, tz: ZoneInfo, source: str) -> list[AssetEvent]:
    """``freshness_verdict`` as a sensor reports it: a materialization of `cost_data_freshness` and an
    evaluation of `cost_data_fresh`, outside any run."""
    metadata, check = freshness_verdict(freshness, now, tz, source)
    return [
        dg.AssetMaterialization(asset_key=FRESHNESS_ASSET, metadata=metadata),
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(FRESHNESS_ASSET),
            check_name=check.check_name,
            passed=check.passed,
            severity=check.severity,
            metadata=check.metadata,
        ),
    ]


def freshness_state(freshness: Freshness) -> dict[str, Any]:
    """What makes a new entry in the asset's history: stale or fresh, and which stale episode (the newest row
    it is stale since); a fresh table's newest row moves with every request, so it does not count."""
    since = freshness.since.isoformat() if freshness.stale and freshness.since else None
    return {"stale": freshness.stale, "since": since}


@dg.asset(
    name=FRESHNESS_ASSET,
    group_name=GROUP,
    kinds={"sql", "postgres"},
    deps=[vast_ai_costs],
    check_specs=[
        dg.AssetCheckSpec(
            COST_DATA_FRESH_CHECK,
            asset=FRESHNESS_ASSET,
            description="vast_ai_costs logged a request within freshness_max_gap_minutes (120), or the same hours "
            "of the last 4 weeks were quiet too.",
        )
    ],
)
def cost_data_freshness(database: AnalyticsDatabase, settings: RunbookSettings) -> dg.MaterializeResult:
    """Whether agent-router is still logging costs: the newest row of `vast_ai_costs` against the traffic of the
    same hours in the last 4 weeks. While stale, the daily report and every budget verdict say "unknown — cost
    data stale since …" instead of a $0.00 that passes the budget. `cost_freshness_sensor` judges every 5 min
    and records the verdict here, with its check, whenever it changes; materializing judges now."""
    tz, limits = zone_and_limits(settings)
    now = clock.now()
    metadata, check = freshness_verdict(cost_freshness(database, now, limits), now, tz, database.label)
    return dg.MaterializeResult(metadata=metadata, check_results=[check])


@dg.sensor(
    name="cost_freshness_sensor",
    job=deliver_alerts,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 5 min: vast_ai_costs silent for longer than freshness_max_gap_minutes while the same hours of "
    "past weeks had traffic alerts #platform-alerts and platform-ops once per stale episode, and once more when "
    "rows arrive again. Each change of verdict is recorded on cost_data_freshness and its check cost_data_fresh.",
)
@skip_when_unavailable
def cost_freshness_sensor(
    context: dg.SensorEvaluationContext,
    database: AnalyticsDatabase,
    slack: SlackResource,
    email: EmailResource,
    settings: RunbookSettings,
) -> dg.SensorResult:
    """The episode is claimed in `vast_pipelines.alert_episodes` in the transaction that queues its alert. The
    verdict reaches `cost_data_freshness`'s history when it differs from the last one recorded (the cursor)."""
    tz, limits = zone_and_limits(settings)
    now = clock.now()
    freshness = cost_freshness(database, now, limits)
    events, cursor = record_changes(
        context.cursor, freshness_state(freshness), lambda: freshness_events(freshness, now, tz, database.label)
    )
    if freshness.stale:
        verdict = stale_text(freshness, tz)
        key = f"{STALE_EPISODE}:{now.isoformat()}"
        rows = alert_episode(
            context,
            database,
            slack,
            email,
            freshness_alert(freshness, tz, database.label),
            kind=STALE_EPISODE,
            subject=COST_TABLE_SUBJECT,
            summary=verdict,
            figures=freshness_record(freshness),
            dedupe_key=key,
        )
        if rows is None:
            return dg.SensorResult(
                skip_reason=f"Still {verdict}; alerted when the episode opened.", cursor=cursor, asset_events=events
            )
        return dg.SensorResult(
            run_requests=[delivery_request(key, rows, {ALERT_TAG: STALE_EPISODE})], cursor=cursor, asset_events=events
        )
    recovered = []
    for closed in database.alerts.close_episodes(STALE_EPISODE, []):
        message = OutboxMessage(
            "slack",
            slack.alerts_channel,
            f"{STALE_EPISODE}_recovered",
            freshness_recovered(closed["opened_at"], now, tz),
            dedupe_key=f"{STALE_EPISODE}:recovered:{closed['id']}",
        )
        recovered += database.outbox.queue([message])
    if recovered:
        key = f"{STALE_EPISODE}:recovered:{now.isoformat()}"
        return dg.SensorResult(
            run_requests=[delivery_request(key, recovered, {ALERT_TAG: f"{STALE_EPISODE}_recovered"})],
            cursor=cursor,
            asset_events=events,
        )
    return dg.SensorResult(
        skip_reason=f"Cost data fresh: {freshness_reason(freshness)}.", cursor=cursor, asset_events=events
    )
