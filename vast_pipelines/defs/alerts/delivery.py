import dagster as dg
from pydantic import Field

from vast_pipelines.notifications.delivery import deliver_queued
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.slack import SlackResource

ALERT_TAG = "vast_pipelines/alert"


class DeliveryConfig(dg.Config):
    """Set by the sensor that queued the messages."""

    outbox_ids: list[int] = Field(description="Outbox rows queued by the tick, delivered by this run.")


@dg.op(
    retry_policy=dg.RetryPolicy(max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL),
    description="First delivery attempt of the messages a sensor tick queued; one that fails is retried by "
    "notification_outbox_sensor with back-off.",
)
def deliver_queued_messages(
    context: dg.OpExecutionContext,
    config: DeliveryConfig,
    database: AnalyticsDatabase,
    slack: SlackResource,
    email: EmailResource,
) -> dg.Output[None]:
    """Claim the queued rows (only those not tried yet: a retry of this op or the outbox sensor never sends one
    twice), try each once and record the outcome."""
    rows = database.outbox.claim_queued(config.outbox_ids)
    deliveries = deliver_queued(database, slack, email, rows)
    lines = []
    for row, delivery in zip(rows, deliveries, strict=True):
        line = f"{row.kind} (outbox {row.id}) to {row.destination}: {delivery.status} {delivery.error or ''}".strip()
        # Kept from the demo database is by design, not a fault to warn about.
        (context.log.info if delivery.status in ("delivered", "demo") else context.log.warning)(line)
        lines.append(line)
    delivered = sum(1 for d in deliveries if d.status == "delivered")
    return dg.Output(
        None,
        metadata={
            "queued": len(config.outbox_ids),
            "attempted": len(rows),
            "delivered": delivered,
            "kept_for_retry": len(rows) - delivered,
            "already_taken": len(config.outbox_ids) - len(rows),
            "outcomes": dg.MetadataValue.md("\n".join(f"- {line}" for line in lines) or "nothing left to send"),
        },
    )


@dg.job(
    name="deliver_alerts",
    description="Delivers the alert messages a sensor tick decided on and queued in the outbox (Slack and email), "
    "once each; what fails waits in the outbox for notification_outbox_sensor.",
)
def deliver_alerts():
    deliver_queued_messages()


def delivery_request(run_key: str, rows: list, tags: dict[str, str] | None = None) -> dg.RunRequest:
    """A run of ``deliver_alerts`` for the queued outbox ``rows``."""
    return dg.RunRequest(
        run_key=run_key,
        job_name=deliver_alerts.name,
        run_config={"ops": {"deliver_queued_messages": {"config": {"outbox_ids": [row.id for row in rows]}}}},
        tags={**(tags or {})},
    )
