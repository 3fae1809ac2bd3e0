"""No data is not $0: is `vast_ai_costs` silent while the same hours of past weeks had traffic?"""

import dataclasses

import dagster as dg

from vast_pipelines import clock
from vast_pipelines.defs.alerts.delivery import ALERT_TAG, deliver_alerts, delivery_request
from vast_pipelines.defs.costs.source import vast_ai_costs
from vast_pipelines.defs.guards import skip_when_unavailable
from vast_pipelines.defs.insights.episodes import alert_episode
from vast_pipelines.reports.health import as_markdown
from vast_pipelines.reports.insights import freshness_alert, freshness_recovered, freshness_report, stale_text
from vast_pipelines.resources.database import AnalyticsDatabase, OutboxMessage
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.insights import close_episodes, cost_freshness
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource

GROUP = "insights"
COST_DATA_FRESH_CHECK = "cost_data_fresh"
STALE_EPISODE = "stale_cost_data"
COST_TABLE_SUBJECT = "vast_ai_costs"


@dg.asset(
    group_name=GROUP,
    kinds={"sql", "postgres"},
    deps=[vast_ai_costs],
    check_specs=[
        dg.AssetCheckSpec(
            COST_DATA_FRESH_CHECK,
            asset="cost_data_freshness",
            description="vast_ai_costs logged a request within freshness_max_gap_minutes (120), or the same hours "
            "of the last 4 weeks were quiet too.",
        )
    ],
)
def cost_data_freshness(database: AnalyticsDatabase, settings: RunbookSettings) -> dg.MaterializeResult:
    """Whether agent-router is still logging costs: the newest row of `vast_ai_costs` against the traffic of the
    same hours in the last 4 weeks. While stale, the daily report and every budget verdict say "unknown — cost
    data stale since …" instead of a $0.00 that passes the budget."""
    tz, limits = settings.tz(), settings.limits()
    now = clock.now()
    freshness = cost_freshness(database, now, limits)
    text = freshness_report(freshness, now, tz, database.label)
    gap_minutes = (now - freshness.since).total_seconds() / 60 if freshness.since else None
    return dg.MaterializeResult(
        metadata={
            "stale": freshness.stale,
            **({"minutes_since_last_request": gap_minutes} if gap_minutes is not None else {}),
            "latest_request": str(freshness.since or "never"),
            "report": dg.MetadataValue.md(as_markdown(text)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=COST_DATA_FRESH_CHECK,
                passed=not freshness.stale,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "reason": freshness.reason,
                    "verdict": stale_text(freshness, tz) if freshness.stale else "fresh",
                },
            )
        ],
    )


@dg.sensor(
    name="cost_freshness_sensor",
    job=deliver_alerts,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 5 min: vast_ai_costs silent for longer than freshness_max_gap_minutes while the same hours of "
    "past weeks had traffic alerts #platform-alerts and platform-ops once per stale episode, and once more when "
    "rows arrive again.",
)
@skip_when_unavailable
def cost_freshness_sensor(
    context: dg.SensorEvaluationContext,
    database: AnalyticsDatabase,
    slack: SlackResource,
    email: EmailResource,
    settings: RunbookSettings,
) -> dg.SensorResult:
    """The episode is claimed in `vast_pipelines.alert_episodes` in the transaction that queues its alert."""
    tz, limits = settings.tz(), settings.limits()
    now = clock.now()
    freshness = cost_freshness(database, now, limits)
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
            figures=dataclasses.asdict(freshness),
            dedupe_key=key,
        )
        if rows is None:
            return dg.SensorResult(skip_reason=f"Still {verdict}; alerted when the episode opened.")
        return dg.SensorResult(run_requests=[delivery_request(key, rows, {ALERT_TAG: STALE_EPISODE})])
    recovered = []
    for closed in close_episodes(database, STALE_EPISODE, []):
        message = OutboxMessage(
            "slack",
            slack.alerts_channel,
            f"{STALE_EPISODE}_recovered",
            freshness_recovered(closed["opened_at"], now, tz),
            dedupe_key=f"{STALE_EPISODE}:recovered:{closed['id']}",
        )
        recovered += database.queue_notifications([message])
    if recovered:
        key = f"{STALE_EPISODE}:recovered:{now.isoformat()}"
        return dg.SensorResult(
            run_requests=[delivery_request(key, recovered, {ALERT_TAG: f"{STALE_EPISODE}_recovered"})]
        )
    return dg.SensorResult(skip_reason=f"Cost data fresh: {freshness.reason}.")
