import json

import dagster as dg

from vast_pipelines import clock
from vast_pipelines.defs.guards import skip_when_unavailable
from vast_pipelines.notifications import redeliver_due
from vast_pipelines.policy.outbox import max_ages
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.settings import RunbookSettings
from vast_pipelines.resources.slack import SlackResource

OUTBOX_ASSET = "notification_outbox"

notification_outbox = dg.AssetSpec(
    OUTBOX_ASSET,
    group_name="alerts",
    kinds={"postgres", "slack", "email"},
    description="Every Slack message and email the pipelines send, stored in `vast_pipelines.notification_outbox` "
    "before delivery. `notification_outbox_sensor` retries what is undelivered with back-off and records the "
    "backlog here (undelivered, failed, not configured, age of the oldest).",
)


@dg.sensor(
    name="notification_outbox_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Retries undelivered Slack messages and emails from the outbox (back-off 1 min doubling to 1 h) "
    "until delivered, so a Slack or SMTP outage delays alerts but loses none. Messages older than their kind's "
    "maximum age (alerts 6 h, reports 24 h) expire into one digest instead of being posted.",
)
@skip_when_unavailable
def notification_outbox_sensor(
    context: dg.SensorEvaluationContext,
    database: AnalyticsDatabase,
    slack: SlackResource,
    email: EmailResource,
    settings: RunbookSettings,
) -> dg.SensorResult:
    """Expire old news into one digest, redeliver what is due, then observe the backlog on `notification_outbox`
    whenever it changes."""
    outcomes = redeliver_due(database, slack, email, ages=max_ages(settings.limits()))
    for row, delivery in outcomes:
        context.log.info(
            f"outbox #{row.id} ({row.kind} to {row.destination}), attempt {row.attempts + 1}: {delivery.status} "
            f"{delivery.error or ''}".strip()
        )
    backlog = database.outbox_backlog()
    delivered = sum(1 for _, d in outcomes if d.status == "delivered")
    counts = {
        "undelivered": backlog.undelivered,
        "failed": backlog.failed,
        "not_configured": backlog.not_configured,
        "pending": backlog.pending,
    }
    age = (clock.now() - backlog.oldest).total_seconds() / 60.0 if backlog.oldest else 0.0
    events = []
    if outcomes or json.dumps(counts, sort_keys=True) != (context.cursor or ""):
        events.append(
            dg.AssetObservation(
                asset_key=OUTBOX_ASSET,
                metadata={
                    **counts,
                    "oldest_undelivered_minutes": round(age, 1),
                    "retried": len(outcomes),
                    "delivered": delivered,
                },
            )
        )
    summary = (
        f"Retried {len(outcomes)}, delivered {delivered}. " if outcomes else ""
    ) + f"Backlog: {backlog.undelivered} undelivered ({backlog.failed} failed, {backlog.not_configured} not configured)"
    if backlog.oldest:
        summary += f", oldest {age:.0f} min"
    return dg.SensorResult(skip_reason=summary + ".", cursor=json.dumps(counts, sort_keys=True), asset_events=events)
