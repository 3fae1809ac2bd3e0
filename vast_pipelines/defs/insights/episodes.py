"""Alerting once per episode: the episode is claimed with its alert queued, then delivered once."""

from typing import Any

import dagster as dg

from vast_pipelines.notifications import alert_messages, deliver_queued
from vast_pipelines.reports.alerts import Message
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.insights import open_episode
from vast_pipelines.resources.slack import SlackResource


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
) -> bool:
    """Open the ``kind``/``subject`` episode and send ``message`` to the alert channels; False if it was open."""
    copies = alert_messages(slack, email, message, kind=kind, dedupe_key=dedupe_key)
    rows = open_episode(database, kind=kind, subject=subject, summary=summary, figures=figures, messages=copies)
    if rows is None:
        return False
    for row, delivery in zip(rows, deliver_queued(database, slack, email, rows), strict=True):
        context.log.info(f"{row.kind} to {row.destination}: {delivery.status} {delivery.error or ''}".strip())
    return True
