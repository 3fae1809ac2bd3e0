import json

import dagster as dg

from vast_pipelines import clock
from vast_pipelines.defs.guards import skip_when_unavailable
from vast_pipelines.notifications.delivery import redeliver_due
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
    "before delivery. `notification_outbox_sensor` watches the backlog (undelivered, failed, not configured, age "
    "of the oldest) and requests `redeliver_notifications` runs for what is due.",
)


@dg.op(
    retry_policy=dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL),
    description="Expire old news into one digest, write what waited in the spool to the outbox, and retry every "
    "due message once (leased: no other sender touches it meanwhile).",
)
def redeliver_due_messages(
    context: dg.OpExecutionContext,
    database: AnalyticsDatabase,
    slack: SlackResource,
    email: EmailResource,
    settings: RunbookSettings,
) -> dg.Output[None]:
    """One pass over the outbox; each attempt and its outcome in the log, the counts as metadata."""
    outcomes = redeliver_due(database, slack, email, ages=max_ages(settings.limits()))
    for row, delivery in outcomes:
        line = (
            f"outbox #{row.id} ({row.kind} to {row.destination}), attempt {row.attempts + 1}: {delivery.status} "
            f"{delivery.error or ''}".strip()
        )
        (context.log.info if delivery.status == "delivered" else context.log.warning)(line)
    delivered = sum(1 for _, d in outcomes if d.status == "delivered")
    context.log_event(
        dg.AssetObservation(asset_key=OUTBOX_ASSET, metadata={"retried": len(outcomes), "delivered": delivered})
    )
    return dg.Output(None, metadata={"retried": len(outcomes), "delivered": delivered})


@dg.job(
    name="redeliver_notifications",
    description="Retries undelivered Slack messages and emails from the outbox once each (back-off 1 min doubling "
    "to 1 h between attempts); old news expires into one digest.",
)
def redeliver_notifications():
    redeliver_due_messages()


@dg.sensor(
    name="notification_outbox_sensor",
    job=redeliver_notifications,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches the outbox every minute and requests a redeliver_notifications run when messages are due "
    "(back-off 1 min doubling to 1 h), so a Slack or SMTP outage delays alerts but loses none. Messages older than "
    "their kind's maximum age (alerts 6 h, reports 24 h) expire into one digest instead of being posted.",
)
@skip_when_unavailable
def notification_outbox_sensor(context: dg.SensorEvaluationContext, database: AnalyticsDatabase) -> dg.SensorResult:
    """Two counts per tick (due messages, the backlog); a run is requested when something is due, and the backlog
    is observed on `notification_outbox` whenever it changes."""
    due = database.outbox.due_count()
    waiting = len(database.spool.waiting())
    backlog = database.outbox.backlog()
    counts = {
        "undelivered": backlog.undelivered,
        "failed": backlog.failed,
        "not_configured": backlog.not_configured,
        "pending": backlog.pending,
    }
    now = clock.now()
    age = (now - backlog.oldest).total_seconds() / 60.0 if backlog.oldest else 0.0
    events = []
    if json.dumps(counts, sort_keys=True) != (context.cursor or ""):
        events.append(
            dg.AssetObservation(
                asset_key=OUTBOX_ASSET, metadata={**counts, "oldest_undelivered_minutes": round(age, 1)}
            )
        )
    summary = (
        f"Backlog: {backlog.undelivered} undelivered ({backlog.failed} failed, {backlog.not_configured} not configured)"
    )
    if backlog.oldest:
        summary += f", oldest {age:.0f} min"
    cursor = json.dumps(counts, sort_keys=True)
    if (due and not database.is_embedded) or waiting:
        request = dg.RunRequest(
            run_key=f"outbox:{now:%Y-%m-%dT%H:%M}",
            tags={"vast_pipelines/due": str(due), "vast_pipelines/spooled": str(waiting)},
        )
        context.log.info(f"{due} message(s) due, {waiting} waiting in the spool: redelivery requested. {summary}.")
        return dg.SensorResult(run_requests=[request], cursor=cursor, asset_events=events)
    return dg.SensorResult(skip_reason=f"Nothing due. {summary}.", cursor=cursor, asset_events=events)
