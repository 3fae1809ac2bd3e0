"""One alert to the guide's channels: a copy each for Slack #platform-alerts (and any extra channel) and the
platform-ops email, each queued in the outbox and tried once, with a line per copy on how it went."""

from __future__ import annotations

from dataclasses import dataclass

from vast_pipelines.notifications.delivery import Sent, send
from vast_pipelines.reports.alerts import Message, delivery_line
from vast_pipelines.reports.plain import plain_text
from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.slack import SlackResource
from vast_pipelines.store.outbox import OutboxMessage


def alert_messages(
    slack: SlackResource,
    email: EmailResource,
    message: Message,
    *,
    kind: str,
    dedupe_key: str,
    extra_channels: tuple[str, ...] = (),
) -> list[OutboxMessage]:
    """The guide's alert channels: Slack #platform-alerts (and ``extra_channels``) and email to platform-ops.

    Each copy has its own dedupe key, so a retried step or a second code server never sends one twice.
    """
    channels = dict.fromkeys((slack.alerts_channel, *extra_channels))
    paging = slack.page_text(message.text)  # @platform-ops as <!subteam^ID>: Slack notifies the group
    copies = [
        OutboxMessage("slack", channel, kind, paging, dedupe_key=f"{dedupe_key}:slack:{channel}")
        for channel in channels
    ]
    copies.append(
        OutboxMessage(
            "email", email.to, kind, plain_text(message.text), subject=message.subject, dedupe_key=f"{dedupe_key}:email"
        )
    )
    return copies


def send_all(
    database: AnalyticsDatabase, slack: SlackResource, email: EmailResource, messages: list[OutboxMessage]
) -> list[Sent]:
    """Queue and try to deliver each message once (see ``send``)."""
    return [send(database, slack, email, message) for message in messages]


def delivery_summary(sent: list[Sent], messages: list[OutboxMessage]) -> list[str]:
    """One line per message: where it went and whether it was delivered, waits for a retry, or is lost."""
    return [
        delivery_line(
            message.transport,
            message.destination,
            item.status,
            item.delivery.error if item.delivery else None,
            spooled=item.spooled is not None,
            kept=item.kept,
        )
        for item, message in zip(sent, messages, strict=True)
    ]


def delivered_count(sent: list[Sent]) -> tuple[int, int, int]:
    """(delivered now or before, undelivered but kept for retry, lost) over ``sent``."""
    delivered = sum(1 for item in sent if item.status in ("delivered", "duplicate"))
    kept = sum(1 for item in sent if item.status not in ("delivered", "duplicate") and item.kept)
    return delivered, kept, len(sent) - delivered - kept


@dataclass(frozen=True)
class AlertOutcome:
    """How the copies of one alert went: a line each, and how many were delivered, kept for retry, or lost."""

    lines: list[str]
    delivered: int
    kept: int
    lost: int


def alert(
    database: AnalyticsDatabase,
    slack: SlackResource,
    email: EmailResource,
    message: Message,
    *,
    kind: str,
    dedupe_key: str,
    extra_channels: tuple[str, ...] = (),
) -> AlertOutcome:
    """Queue ``message`` for the alert channels (see ``alert_messages``) and try each copy once."""
    copies = alert_messages(slack, email, message, kind=kind, dedupe_key=dedupe_key, extra_channels=extra_channels)
    sent = send_all(database, slack, email, copies)
    return AlertOutcome(delivery_summary(sent, copies), *delivered_count(sent))
