"""The outbox: every message is stored first, then delivered, then marked with the outcome."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from vast_pipelines.reports.alerts import Message
from vast_pipelines.reports.plain import plain_text
from vast_pipelines.resources.database import AnalyticsDatabase, OutboxMessage, OutboxRow
from vast_pipelines.resources.email import EmailResource
from vast_pipelines.resources.slack import Delivery, SlackResource

# Undelivered messages are retried after this long, growing with each attempt (capped).
RETRY_BASE_SECONDS = 60.0
RETRY_MAX_SECONDS = 3600.0
# A message being redelivered is hidden from other senders this long (longer than any one attempt).
LEASE_SECONDS = 300.0


@dataclass(frozen=True)
class Sent:
    """A queued notification and what its first delivery attempt did."""

    outbox_id: int | None
    delivery: Delivery | None

    @property
    def status(self) -> str:
        """``delivered``, ``failed``, ``not_configured``, or ``duplicate`` (already queued)."""
        return self.delivery.status if self.delivery else "duplicate"


def retry_delay(attempts: int) -> float:
    """Back-off before the next delivery attempt of a message tried ``attempts`` times."""
    return min(RETRY_BASE_SECONDS * (2 ** max(attempts - 1, 0)), RETRY_MAX_SECONDS)


def send_slack(
    database: AnalyticsDatabase,
    slack: SlackResource,
    *,
    channel: str,
    text: str,
    kind: str,
    dedupe_key: str | None = None,
    attachment_name: str | None = None,
    attachment: bytes | None = None,
    title: str | None = None,
) -> Sent:
    """Queue a Slack message (optionally with a file) in the outbox, then try to deliver it once."""
    message = OutboxMessage(
        transport="slack",
        destination=channel,
        kind=kind,
        subject=title,
        body=text,
        attachment_name=attachment_name,
        attachment=attachment,
        dedupe_key=dedupe_key,
    )
    return send(database, slack, None, message)


def send_email(
    database: AnalyticsDatabase,
    email: EmailResource,
    *,
    subject: str,
    body: str,
    kind: str,
    dedupe_key: str | None = None,
) -> Sent:
    """Queue an email to ALERT_EMAIL_TO in the outbox, then try to deliver it once."""
    message = OutboxMessage(
        transport="email", destination=email.to, kind=kind, subject=subject, body=body, dedupe_key=dedupe_key
    )
    return send(database, None, email, message)


def send(
    database: AnalyticsDatabase, slack: SlackResource | None, email: EmailResource | None, message: OutboxMessage
) -> Sent:
    """Queue ``message``, then try to deliver it once; a duplicate ``dedupe_key`` is not sent again."""
    outbox_id = database.enqueue_notification(**dataclasses.asdict(message))
    if outbox_id is None:
        return Sent(None, None)
    return Sent(outbox_id, deliver_and_mark(database, slack, email, outbox_id, message, attempts=0))


def deliver_and_mark(
    database: AnalyticsDatabase,
    slack: SlackResource | None,
    email: EmailResource | None,
    outbox_id: int,
    message: OutboxMessage | OutboxRow,
    *,
    attempts: int,
) -> Delivery:
    """One delivery attempt of a stored message (tried ``attempts`` times before), and its outcome recorded."""
    delivery = deliver(slack, email, message)
    database.mark_notification(
        outbox_id,
        status=delivery.status,
        error=delivery.error,
        ref=delivery.ref,
        retry_in_seconds=retry_delay(attempts + 1),
    )
    return delivery


def deliver(slack: SlackResource | None, email: EmailResource | None, message: OutboxMessage | OutboxRow) -> Delivery:
    """One delivery attempt by the message's transport."""
    if message.transport == "email":
        if email is None:
            return Delivery("failed", error="no email resource was given to deliver this message")
        return email.send(message.subject or message.kind, message.body, to=message.destination)
    if slack is None:
        return Delivery("failed", error="no Slack resource was given to deliver this message")
    return deliver_slack(
        slack, message.destination, message.body, message.attachment_name, message.attachment, message.subject
    )


def deliver_slack(
    slack: SlackResource,
    channel: str,
    text: str,
    attachment_name: str | None = None,
    attachment: bytes | None = None,
    title: str | None = None,
) -> Delivery:
    """One delivery attempt of a stored Slack message."""
    if attachment is not None and attachment_name:
        return slack.upload_file(channel, attachment_name, bytes(attachment), title or attachment_name, text)
    return slack.post_message(channel, text)


def deliver_queued(
    database: AnalyticsDatabase, slack: SlackResource, email: EmailResource, rows: list[OutboxRow]
) -> list[Delivery]:
    """First delivery attempt of messages already stored (e.g. in the transaction that claimed an alert)."""
    return [deliver_and_mark(database, slack, email, row.id, row, attempts=row.attempts) for row in rows]


def redeliver_due(
    database: AnalyticsDatabase,
    slack: SlackResource,
    email: EmailResource,
    *,
    limit: int = 20,
    time_budget_seconds: float = 30.0,
) -> list[tuple[OutboxRow, Delivery]]:
    """Retry undelivered messages whose back-off has passed, oldest first, within a time budget.

    Messages are leased first, so a second sender (another code server) skips them; a message not tried
    before the budget ran out is tried again when its lease ends.
    """
    started = time.monotonic()
    outcomes = []
    for row in database.claim_due_notifications(limit=limit, lease_seconds=LEASE_SECONDS):
        if time.monotonic() - started > time_budget_seconds:
            break
        outcomes.append((row, deliver_and_mark(database, slack, email, row.id, row, attempts=row.attempts)))
    return outcomes


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
    copies = [
        OutboxMessage("slack", channel, kind, message.text, dedupe_key=f"{dedupe_key}:slack:{channel}")
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
    """One line per message: where it went and whether it was delivered or waits in the outbox."""
    lines = []
    for item, message in zip(sent, messages, strict=True):
        where = message.destination if message.transport == "slack" else f"email {message.destination}"
        note = f" ({item.delivery.error})" if item.delivery and item.delivery.error else ""
        waiting = "" if item.status in ("delivered", "duplicate") else ", kept in the outbox for retry"
        lines.append(f"{where}: {item.status}{waiting}{note}")
    return lines


def send_alert(
    database: AnalyticsDatabase,
    slack: SlackResource,
    email: EmailResource,
    message: Message,
    *,
    kind: str,
    dedupe_key: str,
    extra_channels: tuple[str, ...] = (),
) -> list[str]:
    """Queue ``message`` for the alert channels (see ``alert_messages``) and try each copy once; one line per
    copy on how it went."""
    copies = alert_messages(slack, email, message, kind=kind, dedupe_key=dedupe_key, extra_channels=extra_channels)
    return delivery_summary(send_all(database, slack, email, copies), copies)
