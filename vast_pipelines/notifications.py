"""The outbox: every message is stored first, then delivered, then marked with the outcome."""

from __future__ import annotations

from dataclasses import dataclass

from vast_pipelines.resources.database import AnalyticsDatabase
from vast_pipelines.resources.slack import Delivery, SlackResource

# Undelivered messages are retried after this long, growing with each attempt (capped).
RETRY_BASE_SECONDS = 60.0
RETRY_MAX_SECONDS = 3600.0


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
    outbox_id = database.enqueue_notification(
        transport="slack",
        destination=channel,
        kind=kind,
        subject=title,
        body=text,
        attachment_name=attachment_name,
        attachment=attachment,
        dedupe_key=dedupe_key,
    )
    if outbox_id is None:
        return Sent(None, None)
    delivery = deliver_slack(slack, channel, text, attachment_name, attachment, title)
    database.mark_notification(
        outbox_id,
        status=delivery.status,
        error=delivery.error,
        ref=delivery.ref,
        retry_in_seconds=retry_delay(1),
    )
    return Sent(outbox_id, delivery)


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
