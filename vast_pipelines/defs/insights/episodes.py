"""Alerting once per episode: the episode is claimed with its alert queued (the tick), then delivered once (a
`deliver_alerts` run)."""

from typing import Any

import dagster as dg

from vast_pipelines.notifications.alerts import alert_messages
from vast_pipelines.reports.alerts import Message
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.store.outbox import OutboxRow


def alert_episode(
    context: dg.SensorEvaluationContext,
    database: AnalyticsDatabase,
    slack: SlackResource,
    email: EmailResource,
    message: Message,
    *,
    kind: str,
    subject: str,
    summary: str,
    figures: dict[str, Any],
    dedupe_key: str,
) -> list[OutboxRow] | None:
    """Open the ``kind``/``subject`` episode with ``message`` queued for the alert channels (one transaction);
    the queued rows, for a `deliver_alerts` run to send, or None if the episode was already open."""
    copies = alert_messages(slack, email, message, kind=kind, dedupe_key=dedupe_key)
    rows = database.alerts.open_episode(kind=kind, subject=subject, summary=summary, figures=figures, messages=copies)
    if rows is not None:
        context.log.warning(f"{kind} episode opened for {subject}: {summary}")
    return rows
